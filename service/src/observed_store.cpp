// ObservedStore: forwarding, plus what each commit made durable.
#include "jitgate/service/observed_store.hpp"

#include <optional>

namespace jitgate {

template <class R>
R ObservedStore::answered(R r) {
  bool reachable = r.ok() || (r.refusal().code != RefusalCode::Unavailable &&
                              r.refusal().code != RefusalCode::StoreUnavailable);
  for (auto* o : observers_) o->storeAnswered(reachable);
  return r;
}

template <class F>
auto ObservedStore::write(F f) {
  using R = decltype(f());
  if (depth_ > 0) return answered<R>(f());
  auto started = std::chrono::steady_clock::now();
  pending_ = {};
  struct Depth {
    int& d;
    explicit Depth(int& x) : d(x) { ++d; }
    ~Depth() { --d; }
  };
  std::optional<R> r;
  {
    Depth inside(depth_);
    r.emplace(f());
  }
  if (r->ok()) {
    pending_.took = std::chrono::steady_clock::now() - started;
    publish(std::move(pending_));
  }
  pending_ = {};
  return answered<R>(std::move(*r));
}

void ObservedStore::publish(Commit c) {
  for (auto* o : observers_) o->committed(c);
}

Status ObservedStore::transaction(const std::function<Status()>& body) {
  return write([&] { return inner_->transaction(body); });
}

Result<int64_t> ObservedStore::appendAudit(const AuditEntry& e) {
  return write([&]() -> Result<int64_t> {
    auto r = inner_->appendAudit(e);
    if (r) {
      pending_.audit.push_back(e);
      pending_.audit.back().seq = *r;
    }
    return r;
  });
}

Status ObservedStore::insertCertificate(const IssuedCertificate& c) {
  return write([&]() -> Status {
    auto r = inner_->insertCertificate(c);
    if (r) pending_.certificates.push_back(c);
    return r;
  });
}

// Everything else is forwarded as it is; writes are timed as commits.
Status ObservedStore::insertTarget(const Target& t) {
  return write([&] { return inner_->insertTarget(t); });
}
Status ObservedStore::deleteTarget(const std::string& name) {
  return write([&] { return inner_->deleteTarget(name); });
}
Result<std::optional<Target>> ObservedStore::target(const std::string& name) {
  return answered(inner_->target(name));
}
Result<std::vector<Target>> ObservedStore::targets() { return answered(inner_->targets()); }
Status ObservedStore::upsertPolicy(const Policy& p) {
  return write([&] { return inner_->upsertPolicy(p); });
}
Status ObservedStore::deletePolicy(const std::string& target) {
  return write([&] { return inner_->deletePolicy(target); });
}
Result<std::optional<Policy>> ObservedStore::policy(const std::string& target) {
  return answered(inner_->policy(target));
}
Result<std::vector<Policy>> ObservedStore::policies() { return answered(inner_->policies()); }
Status ObservedStore::insertGrant(const Grant& g) {
  return write([&] { return inner_->insertGrant(g); });
}
Status ObservedStore::updateGrant(const Grant& g) {
  return write([&] { return inner_->updateGrant(g); });
}
Result<std::optional<Grant>> ObservedStore::grant(const std::string& id) {
  return answered(inner_->grant(id));
}
Result<std::vector<Grant>> ObservedStore::grants(bool activeOnly) {
  return answered(inner_->grants(activeOnly));
}
Result<int64_t> ObservedStore::countGrantsCreatedSince(const std::string& target, SysTime since) {
  return answered(inner_->countGrantsCreatedSince(target, since));
}
Status ObservedStore::insertRequest(const AccessRequest& r) {
  return write([&] { return inner_->insertRequest(r); });
}
Status ObservedStore::updateRequest(const AccessRequest& r) {
  return write([&] { return inner_->updateRequest(r); });
}
Result<std::optional<AccessRequest>> ObservedStore::request(const std::string& id) {
  return answered(inner_->request(id));
}
Result<std::vector<AccessRequest>> ObservedStore::requests() {
  return answered(inner_->requests());
}
Status ObservedStore::insertUser(const User& u) {
  return write([&] { return inner_->insertUser(u); });
}
Status ObservedStore::updateUser(const User& u) {
  return write([&] { return inner_->updateUser(u); });
}
Status ObservedStore::deleteUser(const std::string& name) {
  return write([&] { return inner_->deleteUser(name); });
}
Result<std::optional<User>> ObservedStore::user(const std::string& name) {
  return answered(inner_->user(name));
}
Result<std::vector<User>> ObservedStore::users() { return answered(inner_->users()); }
Result<std::vector<IssuedCertificate>> ObservedStore::revokedCertificates(const std::string& kind,
                                                                          SysTime now) {
  return answered(inner_->revokedCertificates(kind, now));
}
Result<std::optional<SysTime>> ObservedStore::lastValidBefore(int64_t caKeyId) {
  return answered(inner_->lastValidBefore(caKeyId));
}
Result<int64_t> ObservedStore::insertCaKey(const CaKeyRecord& k) {
  return write([&] { return inner_->insertCaKey(k); });
}
Status ObservedStore::retireCaKey(int64_t id, SysTime at) {
  return write([&] { return inner_->retireCaKey(id, at); });
}
Result<std::vector<CaKeyRecord>> ObservedStore::caKeys(const std::string& kind) {
  return answered(inner_->caKeys(kind));
}
Result<std::vector<AuditEntry>> ObservedStore::audit(const AuditQuery& q) {
  return answered(inner_->audit(q));
}
Result<std::optional<AuditEntry>> ObservedStore::lastAudit(const std::string& target,
                                                           const std::string& action) {
  return answered(inner_->lastAudit(target, action));
}

Status ObservedStore::registerNode(const NodeRecord& n) {
  return write([&] { return inner_->registerNode(n); });
}
Result<bool> ObservedStore::heartbeatNode(const std::string& name,
                                          std::chrono::sys_time<std::chrono::milliseconds> at) {
  return write([&] { return inner_->heartbeatNode(name, at); });
}
Result<std::vector<NodeRecord>> ObservedStore::nodes() { return answered(inner_->nodes()); }
Result<bool> ObservedStore::markNodeLost(const std::string& name,
                                         std::chrono::sys_time<std::chrono::milliseconds> seen,
                                         SysTime at, const std::string& by) {
  return write([&] { return inner_->markNodeLost(name, seen, at, by); });
}
Result<std::vector<AuditEntry>> ObservedStore::openSessions(const std::string& node,
                                                            SysTime since) {
  return answered(inner_->openSessions(node, since));
}

Result<std::vector<StoreChange>> ObservedStore::changesSince(int64_t seq, size_t limit) {
  return answered(inner_->changesSince(seq, limit));
}

Result<int64_t> ObservedStore::lastChange() { return answered(inner_->lastChange()); }

}  // namespace jitgate
