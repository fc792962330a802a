// The grant engine: validates and commits policy changes, requests and grants,
// answers the fronts' question "may this connection pass?", and announces the
// end of every window (expiry or revoke) so that live sessions can be cut.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "jitgate/clock.hpp"
#include "jitgate/model.hpp"
#include "jitgate/result.hpp"
#include "jitgate/session_refusal.hpp"
#include "jitgate/store.hpp"
#include "jitgate/windows.hpp"

namespace jitgate {

struct Decision {
  bool allowed = false;
  // When allowed: the covering grant that ends last.
  std::string grantId;
  SysTime end{};
  // When denied: one of the engine's reasons (UnknownTarget .. WindowEnded).
  SessionRefusal reason = SessionRefusal::NoGrant;
  std::string message;
};

// StoreUnavailable: not an end of the grant, which stays active in the
// store, but of the sessions under it: the store stayed unreachable beyond
// the grace (StoreFollower).
enum class WindowEnd { Expired, Revoked, StoreUnavailable };
std::string_view toString(WindowEnd e);

struct GrantEnded {
  Grant grant;
  WindowEnd why;
};

enum class TargetState { Configured, NotConfigured, Unsupported };
std::string_view toString(TargetState s);

// decideAt's answer: the target chosen (when allowed, or the only one there).
struct TargetDecision {
  std::optional<Target> target;
  Decision decision;
};

struct TargetView {
  Target target;
  TargetState state = TargetState::NotConfigured;
  std::string reason;  // for Unsupported; a recommendation for NotConfigured
  std::optional<Policy> policy;
  int64_t approvedLast7Days = 0;
  std::optional<std::chrono::sys_time<std::chrono::milliseconds>> lastAccess;
  std::string lastUser;
  std::string lastSource;
  std::vector<std::string> sharesAddressWith;  // other targets at the same address
};

struct GrantInput {
  std::string user;
  std::string target;
  RequestedPort port;
  std::string justification;
  bool allowAnySource = false;  // needed for a /0 source
};

struct RequestInput {
  std::string target;
  std::vector<RequestedPort> ports;
  std::string justification;
};

// Threading: decide(), findTarget(), activeGrantCount(), subscribe() and
// unsubscribe() may be called from any thread. Everything else (changes,
// queries, record(), expireDue()) runs on the io_context's thread: fronts on
// other threads post to it. Listeners are called on that thread.
class GrantEngine {
 public:
  GrantEngine(Store& store, const Clock& clock, boost::asio::io_context& io);
  ~GrantEngine();
  GrantEngine(const GrantEngine&) = delete;
  GrantEngine& operator=(const GrantEngine&) = delete;

  // Loads state; expires windows that ended while the daemon was down; arms
  // the end-of-window timer.
  Status start();

  // --- Targets
  Result<Target> addTarget(const std::string& actor, Target t);
  Status removeTarget(const std::string& actor, const std::string& name);
  Result<std::vector<TargetView>> targets();
  Result<TargetView> targetView(const std::string& name);

  // --- Policies. An empty port list means the OS defaults.
  Result<Policy> setPolicy(const std::string& actor, Policy p);
  Status disablePolicy(const std::string& actor, const std::string& target);
  Result<std::optional<Policy>> policy(const std::string& target);
  Result<std::vector<Policy>> policies();

  // --- Grants and requests
  Result<Grant> grant(const std::string& actor, const GrantInput& in);
  Result<Grant> revoke(const std::string& actor, const std::string& grantId);
  // Moves the end of an active grant `by` later, if a request for the same
  // port and source made now, ending then, would pass the target's policy as
  // it is now (planWindows). A policy that requires approval admits only an
  // admin's extension (`byAdmin`). Live sessions follow: their bindings ask
  // decide() again at the old end and find the grant still covering them.
  Result<Grant> extend(const std::string& actor, const std::string& grantId, Seconds by,
                       bool byAdmin);
  Result<std::vector<Grant>> grants(bool activeOnly);
  Result<std::optional<Grant>> findGrant(const std::string& id);
  Result<AccessRequest> request(const std::string& requester, const RequestInput& in);
  Result<AccessRequest> approve(const std::string& actor, const std::string& requestId);
  Result<AccessRequest> deny(const std::string& actor, const std::string& requestId,
                             const std::string& reason);
  Result<std::vector<AccessRequest>> requests();

  // --- Users
  Result<User> addUser(const std::string& actor, User u);
  Status removeUser(const std::string& actor, const std::string& name);
  Result<std::vector<User>> users();

  // --- Audit
  // Appends an entry (time and seq filled in). For refusals and for events
  // the engine does not see itself (connects, disconnects).
  Status record(AuditEntry e);
  // Several entries in one durable write (a burst of session ends).
  Status record(std::vector<AuditEntry> entries);
  Result<std::vector<AuditEntry>> audit(const AuditQuery& q);

  // --- The fronts' questions. Thread-safe, no store access.
  Decision decide(const std::string& user, const std::string& target, uint16_t port,
                  const IpAddress& source, SysTime now) const;
  Decision decide(const std::string& user, const std::string& target, uint16_t port,
                  const IpAddress& source) const;
  // Whether any user's active grant covers (target, port, source) now: for a
  // front that must relay a handshake leg before the user is known (the WinRM
  // front's NTLM NEGOTIATE). grantId/end name one such grant.
  Decision decideAnyUser(const std::string& target, uint16_t port, const IpAddress& source) const;
  std::optional<Target> findTarget(const std::string& nameOrAddress) const;
  // The target so named, else every target at that address (by name).
  std::vector<Target> targetsNamed(const std::string& nameOrAddress) const;
  // The other targets enrolled at `t`'s address (by name).
  std::vector<std::string> sharingAddress(const Target& t) const;
  // A front's question when a client names a host (a forwarded channel): the
  // target so named, else the one at that address whose grant covers (user,
  // port, source); refused with every candidate named when that is not
  // exactly one (AmbiguousTarget when several grants cover it).
  TargetDecision decideAt(const std::string& nameOrAddress, const std::string& user, uint16_t port,
                          const IpAddress& source) const;
  size_t activeGrantCount() const;
  // Told of each front's decide() and how long it took (metrics). Set before
  // the fronts start; called on the deciding thread.
  using DecisionObserver = std::function<void(const Decision&, std::chrono::nanoseconds)>;
  void observeDecisions(DecisionObserver o) { decisionObserver_ = std::move(o); }

  // Called on the engine's io_context for every window that ends.
  using Listener = std::function<void(const GrantEnded&)>;
  int subscribe(Listener l);
  void unsubscribe(int id);

  // Expires every active window whose end has passed (the timer calls this;
  // tests with an injected clock call it directly).
  void expireDue();

  SysTime now() const;  // to the second, as windows are
  // The clock as it is, for deadlines at a window's exact end.
  const Clock& clock() const { return clock_; }

  // --- Several nodes on one store (StoreFollower calls these; engine_follow.cpp)
  // Brings this node in step with a change another node committed: a grant
  // now active joins the index; one that ended leaves it and is announced
  // (sessions here are cut); a target is read again.
  Status applyChange(const StoreChange& c);
  // While unreachable, decide() refuses everything with StoreUnavailable.
  void setStoreReachable(bool reachable);
  bool storeReachable() const;
  // The store stayed unreachable past the grace: every grant's sessions are
  // told (WindowEnd::StoreUnavailable); they re-ask decide(), which refuses.
  void endSessionsForStore();
  StoreHealth storeHealth() const { return store_.health(); }
  // The nodes sharing the store, as registered (NodePresence).
  Result<std::vector<NodeRecord>> nodes() { return store_.nodes(); }
  // Audit entries that could not be written because the store was
  // unreachable are held (up to a limit) and written when it is back.
  void flushHeldAudit();
  size_t heldAuditCount() const;

 private:
  void holdAudit(std::vector<AuditEntry> entries);
  struct Index;
  Status loadIndex();
  void indexAdd(const Grant& g);
  void indexRemove(const std::string& grantId);
  void armTimer();
  void endRevoked(const std::vector<Grant>& revoked);
  void announce(const Grant& g, WindowEnd why);
  AuditEntry entry(const std::string& actor, std::string action) const;
  // An entry naming the grant's target, port, source, user, grant and request.
  AuditEntry grantEntry(const std::string& actor, std::string action, const Grant& g) const;
  // Revokes every active grant matching `pred` inside the current transaction.
  Result<std::vector<Grant>> revokeWhere(const std::string& actor,
                                         const std::function<bool(const Grant&)>& pred,
                                         const std::string& why);
  // Something whose active grants end with it (a target, its policy, a user),
  // named in grants and in the audit by the fields given.
  struct Ending {
    const char* action;
    std::string AuditEntry::*auditField;
    std::string Grant::*grantField;
    const char* why;  // the revocations' reason
    Refusal missing{RefusalCode::NotFound, "", ""};
    std::function<void()> afterCommit = {};
  };
  // In one transaction: `exists` (else end.missing), the revocation of every
  // active grant naming `name`, `remove`, and the audit entry counting the
  // revoked; then end.afterCommit and the announcements.
  Status endWithGrants(const std::string& actor, const std::string& name, const Ending& end,
                       const std::function<Result<bool>()>& exists,
                       const std::function<Status()>& remove);
  Result<std::vector<Grant>> commitWindows(const std::string& actor, std::vector<Grant> windows);

  Store& store_;
  const Clock& clock_;
  boost::asio::steady_timer timer_;

  mutable std::shared_mutex mu_;  // guards index_ and targets_
  std::unique_ptr<Index> index_;
  std::unordered_map<std::string, Target> targets_;

  std::atomic<bool> storeReachable_{true};
  mutable std::mutex heldMu_;
  std::vector<AuditEntry> held_;
  size_t heldDropped_ = 0;

  DecisionObserver decisionObserver_;
  std::mutex listenersMu_;
  std::map<int, Listener> listeners_;
  int nextListener_ = 1;
};

}  // namespace jitgate
