// A Store that forwards every call to the real one and tells observers what
// each commit made durable (audit records, certificates), how long the commit
// took and whether the store answered. Metrics and the journal read the
// daemon's activity here, from what is committed, not from the fronts.
#pragma once

#include <chrono>
#include <memory>
#include <vector>

#include "jitgate/store.hpp"

namespace jitgate {

struct Commit {
  std::vector<AuditEntry> audit;  // with their seq
  std::vector<IssuedCertificate> certificates;
  std::chrono::nanoseconds took{0};
};

class StoreObserver {
 public:
  virtual ~StoreObserver() = default;
  virtual void committed(const Commit& c) = 0;
  // After every call: false when the store could not be reached (Unavailable).
  virtual void storeAnswered(bool reachable) = 0;
};

class ObservedStore final : public Store {
 public:
  explicit ObservedStore(std::unique_ptr<Store> inner) : inner_(std::move(inner)) {}
  // Observers are not owned: each unobserves before it goes.
  void observe(StoreObserver* o) { observers_.push_back(o); }
  void unobserve(StoreObserver* o) { std::erase(observers_, o); }

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
  void nameNode(const std::string& name) override { inner_->nameNode(name); }
  Status registerNode(const NodeRecord& n) override;
  Result<bool> heartbeatNode(const std::string& name,
                             std::chrono::sys_time<std::chrono::milliseconds> at) override;
  Result<std::vector<NodeRecord>> nodes() override;
  Result<bool> markNodeLost(const std::string& name,
                            std::chrono::sys_time<std::chrono::milliseconds> seen, SysTime at,
                            const std::string& by) override;
  Result<std::vector<AuditEntry>> openSessions(const std::string& node, SysTime since) override;
  Result<std::vector<StoreChange>> changesSince(int64_t seq, size_t limit) override;
  Result<int64_t> lastChange() override;
  void watch(std::function<void()> wake) override { inner_->watch(std::move(wake)); }
  StoreHealth health() const override { return inner_->health(); }

 private:
  // Tells observers whether the store answered; passes the result through.
  template <class R>
  R answered(R r);
  // A write outside a transaction commits on its own.
  template <class F>
  auto write(F f);
  void publish(Commit c);

  std::unique_ptr<Store> inner_;
  std::vector<StoreObserver*> observers_;
  int depth_ = 0;
  Commit pending_;
};

}  // namespace jitgate
