// The store: where every committed target, policy, request, grant, user and
// audit entry lives. SQLite for one node, PostgreSQL for several (docs/STORE.md).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "jitgate/model.hpp"
#include "jitgate/result.hpp"

namespace jitgate {

struct AuditQuery {
  std::string target;            // empty: any
  std::optional<SysTime> since;  // inclusive
  size_t limit = 0;              // 0: no limit; otherwise the newest `limit`, oldest first
};

// A change committed to a store shared by several nodes, in commit order.
struct StoreChange {
  int64_t seq = 0;   // monotonic: a node catches up from the last one it saw
  std::string kind;  // grant, target, policy, request, user, ca
  std::string key;   // the object's id or name
};

// Whether the store answers: for `jitctl status` and to fail closed.
struct StoreHealth {
  std::string backend;  // sqlite | postgresql
  bool reachable = true;
  std::string where;   // the file, or the server without its password
  std::string detail;  // the last failure, while unreachable
  std::optional<SysTime> unreachableSince;
};

class Store {
 public:
  virtual ~Store() = default;

  // Runs `body` in one transaction: all its writes commit durably together,
  // or none does when it returns a refusal (which is passed through).
  virtual Status transaction(const std::function<Status()>& body) = 0;

  virtual Status insertTarget(const Target& t) = 0;
  virtual Status deleteTarget(const std::string& name) = 0;
  virtual Result<std::optional<Target>> target(const std::string& name) = 0;
  virtual Result<std::vector<Target>> targets() = 0;

  virtual Status upsertPolicy(const Policy& p) = 0;
  virtual Status deletePolicy(const std::string& target) = 0;
  virtual Result<std::optional<Policy>> policy(const std::string& target) = 0;
  virtual Result<std::vector<Policy>> policies() = 0;

  virtual Status insertGrant(const Grant& g) = 0;
  virtual Status updateGrant(const Grant& g) = 0;  // state, revocation fields, end while active
  virtual Result<std::optional<Grant>> grant(const std::string& id) = 0;
  virtual Result<std::vector<Grant>> grants(bool activeOnly) = 0;
  virtual Result<int64_t> countGrantsCreatedSince(const std::string& target, SysTime since) = 0;

  virtual Status insertRequest(const AccessRequest& r) = 0;
  virtual Status updateRequest(const AccessRequest& r) = 0;
  virtual Result<std::optional<AccessRequest>> request(const std::string& id) = 0;
  virtual Result<std::vector<AccessRequest>> requests() = 0;

  virtual Status insertUser(const User& u) = 0;
  virtual Status updateUser(const User& u) = 0;
  virtual Status deleteUser(const std::string& name) = 0;
  virtual Result<std::optional<User>> user(const std::string& name) = 0;
  virtual Result<std::vector<User>> users() = 0;

  // Certificates and CA keys. insertCertificate refuses a serial in use
  // (AlreadyExists), so callers can draw again.
  virtual Status insertCertificate(const IssuedCertificate& c) = 0;
  // Certificates of revoked grants still inside their validity at `now`.
  virtual Result<std::vector<IssuedCertificate>> revokedCertificates(const std::string& kind,
                                                                     SysTime now) = 0;
  virtual Result<std::optional<SysTime>> lastValidBefore(int64_t caKeyId) = 0;
  virtual Result<int64_t> insertCaKey(const CaKeyRecord& k) = 0;  // returns id
  virtual Status retireCaKey(int64_t id, SysTime at) = 0;
  virtual Result<std::vector<CaKeyRecord>> caKeys(const std::string& kind) = 0;

  virtual Result<int64_t> appendAudit(const AuditEntry& e) = 0;  // returns seq
  virtual Result<std::vector<AuditEntry>> audit(const AuditQuery& q) = 0;
  virtual Result<std::optional<AuditEntry>> lastAudit(const std::string& target,
                                                      const std::string& action) = 0;

  // --- The nodes sharing the store (node_presence.cpp; SQLite lists one).
  // Names this node in every audit entry appended without a node.
  virtual void nameNode(const std::string& name) = 0;
  // Inserts or replaces `n` (state up, not lost).
  virtual Status registerNode(const NodeRecord& n) = 0;
  // Moves `name`'s heartbeat to `at`; false when no node of that name is up
  // (another node marked it lost).
  virtual Result<bool> heartbeatNode(const std::string& name,
                                     std::chrono::sys_time<std::chrono::milliseconds> at) = 0;
  virtual Result<std::vector<NodeRecord>> nodes() = 0;
  // Marks `name` lost if it is still up with the heartbeat `seen` (the one
  // the caller watched go silent); true when this call marked it. In a
  // transaction: writers hold the store's writer lock, so once per silence.
  virtual Result<bool> markNodeLost(const std::string& name,
                                    std::chrono::sys_time<std::chrono::milliseconds> seen,
                                    SysTime at, const std::string& by) = 0;
  // The session.connect entries `node` wrote at or after `since` for
  // sessions with no session.disconnect yet, oldest first.
  virtual Result<std::vector<AuditEntry>> openSessions(const std::string& node, SysTime since) = 0;

  // --- Several nodes on one store. A store of one node's (SQLite) has no
  // changes from others and answers whenever its file does.
  virtual Result<std::vector<StoreChange>> changesSince(int64_t seq, size_t limit) {
    return std::vector<StoreChange>{};
  }
  virtual Result<int64_t> lastChange() { return int64_t{0}; }
  // `wake` is called, on the store's own thread, when other nodes may have
  // committed changes (a notification) and when the store is reachable
  // again after a failure. Callers still poll: a notification can be lost.
  virtual void watch(std::function<void()> wake) {}
  virtual StoreHealth health() const {
    StoreHealth h;
    h.backend = "sqlite";
    return h;
  }
};

// SQLite in WAL mode with synchronous=FULL: a commit that returned is on disk.
// Creates the file (mode 0600) and applies schema migrations.
Result<std::unique_ptr<Store>> openSqliteStore(const std::string& path);

// PostgreSQL through libpq: `url` is a postgresql:// URI or a key=value
// connection string, and libpq's PG* environment variables fill in what it
// leaves out. Applies the schema migrations under an advisory lock (one node
// at a time) and refuses a schema newer than this build knows. Commits are
// synchronous. When the server cannot be reached, calls are refused with
// StoreUnavailable and the store reconnects in the background with backoff.
Result<std::unique_ptr<Store>> openPostgresStore(const std::string& url);

// Whether libpq can parse `url` as a connection string (`field` names it in
// the refusal). The message never repeats a password.
Status checkPostgresUrl(const std::string& url, const std::string& field);
// `url` with any password replaced by "***", for logs and status.
std::string redactPostgresUrl(const std::string& url);

}  // namespace jitgate
