// The Store written once over a SqlBackend (sql_backend.hpp). The SQLite and
// PostgreSQL stores are this with their backend; PostgreSQL's adds the
// change feed and health. Internal to the policy component.
#pragma once

#include <memory>
#include <mutex>
#include <type_traits>

#include "jitgate/store.hpp"
#include "sql_backend.hpp"

namespace jitgate::sql {

class SqlStore : public Store {
 public:
  explicit SqlStore(std::unique_ptr<SqlBackend> backend);
  ~SqlStore() override;

  Status transaction(const std::function<Status()>& body) override;

  Status insertTarget(const Target& t) override;
  Status deleteTarget(const std::string& name) override;
  Result<std::optional<Target>> target(const std::string& name) override;
  Result<std::vector<Target>> targets() override;

  Status upsertPolicy(const Policy& p) override;
  Status deletePolicy(const std::string& target) override;
  Result<std::optional<Policy>> policy(const std::string& target) override;
  Result<std::vector<Policy>> policies() override;

  Status insertGrant(const Grant& g) override;
  Status updateGrant(const Grant& g) override;
  Result<std::optional<Grant>> grant(const std::string& id) override;
  Result<std::vector<Grant>> grants(bool activeOnly) override;
  Result<int64_t> countGrantsCreatedSince(const std::string& target, SysTime since) override;

  Status insertRequest(const AccessRequest& r) override;
  Status updateRequest(const AccessRequest& r) override;
  Result<std::optional<AccessRequest>> request(const std::string& id) override;
  Result<std::vector<AccessRequest>> requests() override;

  Status insertUser(const User& u) override;
  Status updateUser(const User& u) override;
  Status deleteUser(const std::string& name) override;
  Result<std::optional<User>> user(const std::string& name) override;
  Result<std::vector<User>> users() override;

  Status insertCertificate(const IssuedCertificate& c) override;
  Result<std::vector<IssuedCertificate>> revokedCertificates(const std::string& kind,
                                                             SysTime now) override;
  Result<std::optional<SysTime>> lastValidBefore(int64_t caKeyId) override;
  Result<int64_t> insertCaKey(const CaKeyRecord& k) override;
  Status retireCaKey(int64_t id, SysTime at) override;
  Result<std::vector<CaKeyRecord>> caKeys(const std::string& kind) override;

  Result<int64_t> appendAudit(const AuditEntry& e) override;
  Result<std::vector<AuditEntry>> audit(const AuditQuery& q) override;
  Result<std::optional<AuditEntry>> lastAudit(const std::string& target,
                                              const std::string& action) override;

  void nameNode(const std::string& name) override;
  Status registerNode(const NodeRecord& n) override;
  Result<bool> heartbeatNode(const std::string& name,
                             std::chrono::sys_time<std::chrono::milliseconds> at) override;
  Result<std::vector<NodeRecord>> nodes() override;
  Result<bool> markNodeLost(const std::string& name,
                            std::chrono::sys_time<std::chrono::milliseconds> seen, SysTime at,
                            const std::string& by) override;
  Result<std::vector<AuditEntry>> openSessions(const std::string& node, SysTime since) override;

 protected:
  // One statement, under the store's lock (held through a transaction).
  Status exec(const Query& q, const std::string& what);
  // A write and its change record, in a transaction of their own unless
  // inside one already.
  Status write(std::string_view kind, const std::string& key, const Query& q,
               const std::string& what);
  // The rows of `q` read by `read` (which may answer a Result<T>).
  template <class T, class Read>
  Result<std::vector<T>> list(const Query& q, const std::string& what, Read read);
  template <class T, class Read>
  Result<std::optional<T>> one(const Query& q, const std::string& what, Read read);
  // The first column of the first row, which must not be NULL.
  Result<int64_t> scalar(const Query& q, const std::string& what);

  std::unique_ptr<SqlBackend> backend_;
  // Calls come from the engine's thread and the service's (metrics); a
  // transaction holds the lock from BEGIN to COMMIT.
  std::recursive_mutex mu_;
  int depth_ = 0;
  std::string node_;  // this node's name, for audit entries that name none
};

template <class T, class Read>
inline Result<std::vector<T>> SqlStore::list(const Query& q, const std::string& what, Read read) {
  std::lock_guard lock(mu_);
  std::vector<T> out;
  auto r = backend_->run(q, what, [&](const SqlRow& row) -> Status {
    if constexpr (std::is_same_v<decltype(read(row)), T>) {
      out.push_back(read(row));
    } else {
      auto v = read(row);
      if (!v) return v.refusal();
      out.push_back(std::move(*v));
    }
    return okStatus();
  });
  if (!r) return r.refusal();
  return out;
}

template <class T, class Read>
inline Result<std::optional<T>> SqlStore::one(const Query& q, const std::string& what, Read read) {
  auto all = list<T>(q, what, read);
  if (!all) return all.refusal();
  if (all->empty()) return std::optional<T>();
  return std::optional<T>(std::move(all->front()));
}

}  // namespace jitgate::sql
