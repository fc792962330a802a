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
#include "jitgate/live_sessions.hpp"
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
  StoreUnavailable,
  Killed  // ended by an admin (jitctl session kill): SessionRecord::endNote says who and why
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
  std::chrono::sys_time<std::chrono::milliseconds> startedUtc =
      std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
  uint64_t bytesToTarget = 0;
  uint64_t bytesFromTarget = 0;
  std::string id;       // the registry's, once bound ("s-..."); in the audit details
  std::string endNote;  // for Killed: "by root: maintenance"
};

AuditEntry connectEntry(const SessionRecord& s);
// detail: "front=ssh reason=expired bytes_to_target=N bytes_from_target=N duration=12.345s[ note]"
AuditEntry disconnectEntry(const SessionRecord& s, EndReason why, const std::string& note = "");
// What a session asked the target to run: action session.command, detail
// "front=ssh session=s-... exec: COMMAND" (or "subsystem: sftp"); the text
// printable and at most 1024 characters.
AuditEntry commandEntry(const SessionRecord& s, std::string_view kind, std::string_view text,
                        std::string_view recording = {});
// A session channel's recording (docs/RECORDINGS.md): action
// session.recording, detail "front=ssh session=s-... " and `text`
// ("recording=ID started ...", "recording=ID sha256=HEX ...").
AuditEntry recordingEntry(const SessionRecord& s, std::string_view outcome, std::string_view text);
// A connection or channel that was not let through: action session.refused.
AuditEntry refusalEntry(const std::string& front, const std::string& user,
                        const std::string& target, std::optional<uint16_t> port,
                        const std::string& source, SessionRefusal reason,
                        const std::string& message);
// The line a user sees when a window ends: "jitgate: access to vm1 ended at
// 2026-11-23T15:00:00Z (window expired)"; for Killed, `note` says by whom.
std::string endMessage(const std::string& target, SysTime at, EndReason why,
                       const std::string& note = "");

// Runs on the engine's io_context thread (listeners are called there).
class SessionRegistry final : public LiveSessions {
 public:
  using Id = uint64_t;
  // Called when the session's grant ended. The session re-asks the engine
  // (another grant may still cover it) and either rebinds or cuts.
  using OnGrantEnded = std::function<void(const GrantEnded&)>;
  // Ends the session at once for an admin: the note ("by root: why").
  using OnKill = std::function<void(const std::string& note)>;

  explicit SessionRegistry(GrantEngine& engine);
  ~SessionRegistry();
  SessionRegistry(const SessionRegistry&) = delete;
  SessionRegistry& operator=(const SessionRegistry&) = delete;

  // `record` (the session's, alive until remove()) gets its id here and is
  // what list() shows.
  Id add(const std::string& grantId, OnGrantEnded onEnd, SessionRecord* record = nullptr,
         OnKill onKill = {});
  void rebind(Id id, const std::string& grantId);
  void remove(Id id);
  // The node list() names ([node] name; the host name until set).
  void setNode(std::string name) { node_ = std::move(name); }
  size_t size() const { return sessions_.size(); }
  size_t sessionsUnder(const std::string& grantId) const;
  std::vector<LiveSession> list() const override;
  Result<LiveSession> kill(const std::string& id, const std::string& by,
                           const std::string& reason) override;

 private:
  void grantEnded(const GrantEnded& ev);

  struct Session {
    std::string grantId;
    OnGrantEnded onEnd;
    SessionRecord* record;
    OnKill onKill;
  };
  LiveSession view(const SessionRecord& r) const;
  std::string node_;
  GrantEngine& engine_;
  int listener_ = 0;
  Id next_ = 1;
  std::unordered_map<Id, Session> sessions_;
  std::unordered_map<std::string, std::unordered_set<Id>> byGrant_;
};

}  // namespace jitgate
