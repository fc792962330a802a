// The control API's live sessions: GET /v1/sessions (readers) and
// POST /v1/sessions/ID/kill (admins), over the fronts' LiveSessions.
#include "control_operations.hpp"
#include "jitgate/json_input.hpp"
#include "jitgate/text.hpp"
#include "jitgate/timefmt.hpp"

namespace jitgate::control {

namespace json = boost::json;

namespace {

json::object encode(const LiveSession& s) {
  return json::object{{"id", s.id},
                      {"front", s.front},
                      {"mode", s.front == "ssh" ? "terminating" : "forwarding"},
                      {"user", s.user},
                      {"target", s.target},
                      {"port", s.port},
                      {"source", s.source},
                      {"grant", s.grantId},
                      {"startedUtc", formatTimestampMs(s.started)},
                      {"bytesToTarget", s.bytesToTarget},
                      {"bytesFromTarget", s.bytesFromTarget},
                      {"node", s.node}};
}

Refusal noFronts() { return Refusal{RefusalCode::Unavailable, "", "this jitgated runs no front"}; }

}  // namespace

ApiResponse listSessions(Call& c) {
  if (!c.sessions) return c.refuse(noFronts());
  auto user = c.query.get("user"), target = c.query.get("target"), grant = c.query.get("grant");
  json::array out;
  for (const auto& s : c.sessions->list()) {
    if ((user && s.user != *user) || (target && s.target != *target) ||
        (grant && s.grantId != *grant))
      continue;
    out.push_back(encode(s));
  }
  return jsonResponse(200, out);
}

ApiResponse killSession(Call& c) {
  if (!c.sessions) return c.refuse(noFronts());
  ObjectReader in(c.body);
  auto reason = in.optionalString("reason", 200);
  if (!reason) return c.refuse(reason.refusal());
  if (auto st = in.finish(); !st) return c.refuse(st.refusal());
  std::string why = printable(reason->value_or(""), 200);
  auto killed = c.sessions->kill(c.arg, c.caller.name, why);
  if (!killed) return c.refuse(killed.refusal());
  AuditEntry e;
  e.actor = c.caller.name;
  e.action = "session.kill";
  e.outcome = "ok";
  e.target = killed->target;
  e.port = killed->port;
  e.source = killed->source;
  e.user = killed->user;
  e.grantId = killed->grantId;
  e.detail =
      "session=" + killed->id + " front=" + killed->front + (why.empty() ? "" : " reason: " + why);
  if (auto st = c.engine.record(std::move(e)); !st) return c.refuse(st.refusal());
  return jsonResponse(200, encode(*killed));
}

}  // namespace jitgate::control
