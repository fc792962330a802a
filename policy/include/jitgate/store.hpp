// The store: where every committed target, policy, request, grant, user and
// audit entry lives. An interface because PostgreSQL will join SQLite.
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
  virtual Status updateGrant(const Grant& g) = 0;  // state and revocation fields
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
};

// SQLite in WAL mode with synchronous=FULL: a commit that returned is on disk.
// Creates the file (mode 0600) and applies schema migrations.
Result<std::unique_ptr<Store>> openSqliteStore(const std::string& path);

}  // namespace jitgate
