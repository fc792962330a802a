// The control API's session recordings (docs/CONTROL_API.md, RECORDINGS.md):
// GET /v1/recordings, /v1/recordings/search, /v1/recordings/ID, its .cast
// file and its verification against the digest the audit log holds.
#include "control_operations.hpp"
#include "jitgate/text.hpp"
#include "jitgate/timefmt.hpp"

namespace jitgate {

std::string_view toString(RecordingCheck::State s) {
  switch (s) {
    case RecordingCheck::State::Intact:
      return "intact";
    case RecordingCheck::State::Incomplete:
      return "incomplete";
    case RecordingCheck::State::Altered:
      return "altered";
  }
  return "altered";
}

}  // namespace jitgate

namespace jitgate::control {

namespace json = boost::json;

namespace {

json::object encode(const RecordingInfo& r) {
  return json::object{{"id", r.id},
                      {"session", r.session},
                      {"user", r.user},
                      {"target", r.target},
                      {"grant", r.grantId},
                      {"source", r.source},
                      {"channel", r.channel},
                      {"command", r.command},
                      {"record", r.mode},
                      {"width", r.width},
                      {"height", r.height},
                      {"startedUtc", formatTimestampMs(r.started)},
                      {"durationSeconds", r.duration},
                      {"bytes", r.bytes},
                      {"closed", r.closed},
                      {"end", r.endReason}};
}

Refusal noRecordings() {
  return Refusal{RefusalCode::Unavailable, "", "this jitgated keeps no recordings"};
}

// --user, --target, --grant and --since, each checked as the audit's are.
Result<RecordingFilter> filterFrom(Call& c) {
  RecordingFilter f;
  for (auto [key, out] : {std::pair{"user", &f.user}, std::pair{"target", &f.target},
                          std::pair{"grant", &f.grantId}}) {
    if (auto v = c.query.get(key)) {
      if (auto st = validateName(*v, key); !st) return st.refusal();
      *out = *v;
    }
  }
  if (auto s = c.query.get("since")) {
    auto t = parseTimestamp(*s, "since");
    if (t) {
      f.since = std::chrono::time_point_cast<std::chrono::milliseconds>(*t);
    } else {
      auto d = parseDuration(*s, "since");
      if (!d) return invalid("since", "must be an RFC 3339 time or a duration (24h, P7D)");
      f.since = std::chrono::time_point_cast<std::chrono::milliseconds>(c.engine.now() - *d);
    }
  }
  return f;
}

// Who read a recording's contents is on record too.
Status auditRead(Call& c, const RecordingInfo& r, const std::string& what) {
  AuditEntry e;
  e.actor = c.caller.name;
  e.action = "recording.read";
  e.outcome = "ok";
  e.target = r.target;
  e.user = r.user;
  e.grantId = r.grantId;
  e.detail = "recording=" + r.id + " session=" + r.session + " " + what;
  return c.engine.record(std::move(e));
}

// The digest the audit log took at the recording's close, if any.
Result<std::string> auditedDigest(Call& c, const RecordingInfo& r) {
  AuditQuery q;
  q.target = r.target;
  // The target's whole log: the recording's start time is its header's
  // word, which is what is being checked.
  auto entries = c.engine.audit(q);
  if (!entries) return entries.refusal();
  std::string needle = " recording=" + r.id + " ";
  std::string digest;
  for (const auto& e : *entries) {
    if (e.action != "session.recording" || e.detail.find(needle) == std::string::npos) continue;
    auto at = e.detail.find(" sha256=");
    if (at != std::string::npos) digest = e.detail.substr(at + 8, 64);
  }
  return digest;
}

}  // namespace

ApiResponse listRecordings(Call& c) {
  if (!c.recordings) return c.refuse(noRecordings());
  auto f = filterFrom(c);
  if (!f) return c.refuse(f.refusal());
  json::array out;
  for (const auto& r : c.recordings->list(*f)) out.push_back(encode(r));
  return jsonResponse(200, out);
}

ApiResponse getRecording(Call& c) {
  if (!c.recordings) return c.refuse(noRecordings());
  auto r = c.recordings->find(c.arg);
  if (!r) return c.refuse(r.refusal());
  return jsonResponse(200, encode(*r));
}

ApiResponse recordingCast(Call& c) {
  if (!c.recordings) return c.refuse(noRecordings());
  auto r = c.recordings->find(c.arg);
  if (!r) return c.refuse(r.refusal());
  auto data = c.recordings->cast(c.arg);
  if (!data) return c.refuse(data.refusal());
  if (auto st = auditRead(c, *r, "cast bytes=" + std::to_string(data->size())); !st)
    return c.refuse(st.refusal());
  return {200, "application/x-asciicast", std::move(*data)};
}

ApiResponse verifyRecording(Call& c) {
  if (!c.recordings) return c.refuse(noRecordings());
  auto r = c.recordings->find(c.arg);
  if (!r) return c.refuse(r.refusal());
  auto check = c.recordings->check(c.arg);
  if (!check) return c.refuse(check.refusal());
  auto audited = auditedDigest(c, *r);
  if (!audited) return c.refuse(audited.refusal());
  // The chain proves the file matches the chain; the audit log's digest
  // proves the chain is the one written at close.
  auto state = check->state;
  std::string problem = check->problem;
  if (state == RecordingCheck::State::Intact) {
    if (audited->empty()) {
      state = RecordingCheck::State::Incomplete;
      problem = "the audit log holds no digest for it: the chain cannot be confirmed";
    } else if (*audited != check->finalDigest) {
      state = RecordingCheck::State::Altered;
      problem =
          "its chain ends in " + check->finalDigest + ", the audit log's digest is " + *audited;
    }
  } else if (state == RecordingCheck::State::Incomplete && !audited->empty()) {
    // Closed by the audit log's account, yet its end is not in the file.
    state = RecordingCheck::State::Altered;
    problem = "the audit log holds its digest at close, but " + problem;
  }
  return jsonResponse(200, json::object{{"id", r->id},
                                        {"state", toString(state)},
                                        {"chunks", check->chunks},
                                        {"bytes", check->bytes},
                                        {"digest", check->digest},
                                        {"auditedDigest", *audited},
                                        {"problem", problem}});
}

ApiResponse searchRecordings(Call& c) {
  if (!c.recordings) return c.refuse(noRecordings());
  auto text = c.query.get("text");
  if (!text || text->empty() || text->size() > 200)
    return c.refuse(invalid("text", "required, 1 to 200 characters"));
  auto f = filterFrom(c);
  if (!f) return c.refuse(f.refusal());
  size_t limit = 200;
  if (auto l = c.query.get("limit")) {
    if (l->empty() || l->size() > 5 || l->find_first_not_of("0123456789") != std::string::npos ||
        std::stoul(*l) < 1 || std::stoul(*l) > 10000)
      return c.refuse(invalid("limit", "must be 1..10000"));
    limit = std::stoul(*l);
  }
  auto hits = c.recordings->search(*text, *f, limit);
  if (!hits) return c.refuse(hits.refusal());
  AuditEntry e;
  e.actor = c.caller.name;
  e.action = "recording.search";
  e.outcome = "ok";
  e.target = f->target;
  e.user = f->user;
  e.detail = "text: " + printable(*text, 200) + " hits=" + std::to_string(hits->size());
  if (auto st = c.engine.record(std::move(e)); !st) return c.refuse(st.refusal());
  json::array out;
  for (const auto& h : *hits)
    out.push_back(json::object{
        {"recording", h.id}, {"offsetSeconds", h.offset}, {"row", h.row}, {"line", h.line}});
  return jsonResponse(200, out);
}

}  // namespace jitgate::control
