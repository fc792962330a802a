#include "jitgate/proxy/session_registry.hpp"

#include <openssl/rand.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "jitgate/text.hpp"
#include "jitgate/timefmt.hpp"

namespace jitgate {

std::string_view toString(EndReason r) {
  switch (r) {
    case EndReason::Expired:
      return "expired";
    case EndReason::Revoked:
      return "revoked";
    case EndReason::ClientClosed:
      return "client_closed";
    case EndReason::TargetClosed:
      return "target_closed";
    case EndReason::Error:
      return "error";
    case EndReason::Shutdown:
      return "shutdown";
    case EndReason::StoreUnavailable:
      return "store_unavailable";
    case EndReason::Killed:
      return "killed";
  }
  return "error";
}

EndReason endReasonFor(WindowEnd why) {
  switch (why) {
    case WindowEnd::Expired:
      return EndReason::Expired;
    case WindowEnd::Revoked:
      return EndReason::Revoked;
    case WindowEnd::StoreUnavailable:
      return EndReason::StoreUnavailable;
  }
  return EndReason::Expired;
}

namespace {
AuditEntry sessionEntry(const SessionRecord& s, const char* action) {
  AuditEntry e;
  e.actor = s.user;
  e.action = action;
  e.outcome = "ok";
  e.target = s.target;
  e.port = s.port;
  e.source = s.source;
  e.user = s.user;
  e.grantId = s.grantId;
  e.session = s.id;
  return e;
}
}  // namespace

AuditEntry connectEntry(const SessionRecord& s) {
  auto e = sessionEntry(s, "session.connect");
  e.detail = "front=" + s.front;
  if (!s.id.empty()) e.detail += " session=" + s.id;
  return e;
}

AuditEntry disconnectEntry(const SessionRecord& s, EndReason why, const std::string& note) {
  auto e = sessionEntry(s, "session.disconnect");
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                  s.started)
                .count();
  char duration[32];
  std::snprintf(duration, sizeof duration, "%lld.%03llds", static_cast<long long>(ms / 1000),
                static_cast<long long>(ms % 1000));
  e.detail = "front=" + s.front + " reason=" + std::string(toString(why)) +
             " bytes_to_target=" + std::to_string(s.bytesToTarget) +
             " bytes_from_target=" + std::to_string(s.bytesFromTarget) + " duration=" + duration;
  if (!s.id.empty()) e.detail += " session=" + s.id;
  if (!note.empty()) e.detail += " " + note;
  if (why == EndReason::Killed && !s.endNote.empty()) e.detail += " " + s.endNote;
  if (why == EndReason::Error) e.outcome = "error";
  return e;
}

AuditEntry commandEntry(const SessionRecord& s, std::string_view kind, std::string_view text,
                        std::string_view recording) {
  auto e = sessionEntry(s, "session.command");
  e.detail = "front=" + s.front;
  if (!s.id.empty()) e.detail += " session=" + s.id;
  if (!recording.empty()) e.detail += " recording=" + std::string(recording);
  e.detail += " " + std::string(kind) + ": " + printable(text, 1024);
  return e;
}

AuditEntry recordingEntry(const SessionRecord& s, std::string_view outcome, std::string_view text) {
  auto e = sessionEntry(s, "session.recording");
  e.outcome = std::string(outcome);
  e.detail = "front=" + s.front;
  if (!s.id.empty()) e.detail += " session=" + s.id;
  e.detail += " " + std::string(text);
  return e;
}

AuditEntry refusalEntry(const std::string& front, const std::string& user,
                        const std::string& target, std::optional<uint16_t> port,
                        const std::string& source, SessionRefusal reason,
                        const std::string& message) {
  AuditEntry e;
  e.actor = user.empty() ? "-" : user;
  e.action = "session.refused";
  e.outcome = "denied";
  e.target = target;
  e.port = port;
  e.source = source;
  e.user = user;
  e.detail = "front=" + front + " reason=" + std::string(toString(reason)) + ": " + message;
  return e;
}

std::string endMessage(const std::string& target, SysTime at, EndReason why,
                       const std::string& note) {
  std::string how = why == EndReason::Expired            ? "window expired"
                    : why == EndReason::Revoked          ? "grant revoked"
                    : why == EndReason::StoreUnavailable ? "the store is unreachable"
                    : why == EndReason::Killed           ? "session ended " + note
                                                         : std::string(toString(why));
  return "jitgate: access to " + target + " ended at " + formatTimestamp(at) + " (" + how + ")";
}

SessionRegistry::SessionRegistry(GrantEngine& engine) : engine_(engine) {
  listener_ = engine_.subscribe([this](const GrantEnded& ev) { grantEnded(ev); });
  char host[256] = {};
  node_ = ::gethostname(host, sizeof host - 1) == 0 ? printable(host, 64) : "unknown";
}

SessionRegistry::~SessionRegistry() { engine_.unsubscribe(listener_); }

SessionRegistry::Id SessionRegistry::add(const std::string& grantId, OnGrantEnded onEnd,
                                         SessionRecord* record, OnKill onKill) {
  Id id = next_++;
  if (record) {
    // Unguessable, so that an id seen in one place names nothing elsewhere.
    unsigned char raw[8];
    if (RAND_bytes(raw, sizeof raw) != 1) std::memcpy(raw, &id, sizeof raw);
    static const char* hex = "0123456789abcdef";
    record->id = "s-";
    for (unsigned char b : raw) record->id += {hex[b >> 4], hex[b & 15]};
  }
  sessions_.emplace(id, Session{grantId, std::move(onEnd), record, std::move(onKill)});
  byGrant_[grantId].insert(id);
  return id;
}

void SessionRegistry::rebind(Id id, const std::string& grantId) {
  auto it = sessions_.find(id);
  if (it == sessions_.end() || it->second.grantId == grantId) return;
  auto old = byGrant_.find(it->second.grantId);
  if (old != byGrant_.end()) {
    old->second.erase(id);
    if (old->second.empty()) byGrant_.erase(old);
  }
  it->second.grantId = grantId;
  byGrant_[grantId].insert(id);
}

void SessionRegistry::remove(Id id) {
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return;
  auto g = byGrant_.find(it->second.grantId);
  if (g != byGrant_.end()) {
    g->second.erase(id);
    if (g->second.empty()) byGrant_.erase(g);
  }
  sessions_.erase(it);
}

size_t SessionRegistry::sessionsUnder(const std::string& grantId) const {
  auto g = byGrant_.find(grantId);
  return g == byGrant_.end() ? 0 : g->second.size();
}

LiveSession SessionRegistry::view(const SessionRecord& r) const {
  LiveSession s;
  s.id = r.id;
  s.front = r.front;
  s.user = r.user;
  s.target = r.target;
  s.port = r.port;
  s.source = r.source;
  s.grantId = r.grantId;
  s.started = r.startedUtc;
  s.bytesToTarget = r.bytesToTarget;
  s.bytesFromTarget = r.bytesFromTarget;
  s.node = node_;
  return s;
}

std::vector<LiveSession> SessionRegistry::list() const {
  std::vector<LiveSession> out;
  for (const auto& [id, s] : sessions_)
    if (s.record) out.push_back(view(*s.record));
  std::sort(out.begin(), out.end(),
            [](const LiveSession& a, const LiveSession& b) { return a.started < b.started; });
  return out;
}

Result<LiveSession> SessionRegistry::kill(const std::string& id, const std::string& by,
                                          const std::string& reason) {
  for (auto& [key, s] : sessions_) {
    if (!s.record || s.record->id != id || !s.onKill) continue;
    auto seen = view(*s.record);
    auto onKill = s.onKill;
    onKill("by " + by + (reason.empty() ? "" : ": " + reason));
    return seen;
  }
  return Refusal{RefusalCode::NotFound, "session", "no live session " + id + " on this node"};
}

void SessionRegistry::grantEnded(const GrantEnded& ev) {
  auto g = byGrant_.find(ev.grant.id);
  if (g == byGrant_.end()) return;
  // Copied: callbacks remove or rebind sessions while we walk.
  std::vector<Id> ids(g->second.begin(), g->second.end());
  for (Id id : ids) {
    auto it = sessions_.find(id);
    if (it == sessions_.end() || it->second.grantId != ev.grant.id) continue;
    auto cb = it->second.onEnd;
    cb(ev);
  }
}

}  // namespace jitgate
