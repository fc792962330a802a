// Live bastion sessions (SSH and WinRM) by the grant that covers them, so
// that the end of a window or a revoke reaches every session under it, and
// the audit records every front writes for connects, disconnects and refusals.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "jitgate/engine.hpp"
#include "jitgate/session_refusal.hpp"

namespace jitgate {

// Why a session ended; the words appear in audit details and user messages.
// StoreUnavailable: the store stayed unreachable beyond store_grace.
enum class EndReason {
  Expired,
  Revoked,
  ClientClosed,
  TargetClosed,
  Error,
  Shutdown,
  StoreUnavailable
};
std::string_view toString(EndReason r);
// Why a session ends when its grant's window does.
EndReason endReasonFor(WindowEnd why);

// What the audit log says about one session.
struct SessionRecord {
  std::string front;  // "ssh", "ssh-forward", "winrm-http", "winrm-https"
  std::string user;
  std::string target;
  uint16_t port = 0;   // the target's real port the grant is for
  std::string source;  // the client's address
  std::string grantId;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  uint64_t bytesToTarget = 0;
  uint64_t bytesFromTarget = 0;
};

AuditEntry connectEntry(const SessionRecord& s);
// detail: "front=ssh reason=expired bytes_to_target=N bytes_from_target=N duration=12.345s[ note]"
AuditEntry disconnectEntry(const SessionRecord& s, EndReason why, const std::string& note = "");
// A connection or channel that was not let through: action session.refused.
AuditEntry refusalEntry(const std::string& front, const std::string& user,
                        const std::string& target, std::optional<uint16_t> port,
                        const std::string& source, SessionRefusal reason,
                        const std::string& message);
// The line a user sees when a window ends: "jitgate: access to vm1 ended at
// 2026-11-23T15:00:00Z (window expired)".
std::string endMessage(const std::string& target, SysTime at, EndReason why);

// Runs on the engine's io_context thread (listeners are called there).
class SessionRegistry {
 public:
  using Id = uint64_t;
  // Called when the session's grant ended. The session re-asks the engine
  // (another grant may still cover it) and either rebinds or cuts.
  using OnGrantEnded = std::function<void(const GrantEnded&)>;

  explicit SessionRegistry(GrantEngine& engine);
  ~SessionRegistry();
  SessionRegistry(const SessionRegistry&) = delete;
  SessionRegistry& operator=(const SessionRegistry&) = delete;

  Id add(const std::string& grantId, OnGrantEnded onEnd);
  void rebind(Id id, const std::string& grantId);
  void remove(Id id);
  size_t size() const { return sessions_.size(); }
  size_t sessionsUnder(const std::string& grantId) const;

 private:
  void grantEnded(const GrantEnded& ev);

  struct Session {
    std::string grantId;
    OnGrantEnded onEnd;
  };
  GrantEngine& engine_;
  int listener_ = 0;
  Id next_ = 1;
  std::unordered_map<Id, Session> sessions_;
  std::unordered_map<std::string, std::unordered_set<Id>> byGrant_;
};

}  // namespace jitgate
