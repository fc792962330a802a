// The Store over any SQL backend (SQLite, PostgreSQL): the statements, once,
// and the changes recorded for other nodes in the same transaction as the
// write they describe.
#include "sql_store.hpp"

#include <algorithm>
#include <boost/json.hpp>

#include "sql_rows.hpp"

namespace jitgate::sql {

namespace json = boost::json;

SqlStore::SqlStore(std::unique_ptr<SqlBackend> backend) : backend_(std::move(backend)) {}

SqlStore::~SqlStore() = default;

Status SqlStore::transaction(const std::function<Status()>& body) {
  std::lock_guard lock(mu_);
  if (depth_ > 0) return body();  // nested: part of the outer one
  if (auto st = backend_->begin(); !st) return st;
  Status st = okStatus();
  ++depth_;
  try {
    st = body();
  } catch (...) {
    // Never leave a transaction open: later writes would look nested and
    // never commit.
    --depth_;
    backend_->rollback();
    throw;
  }
  --depth_;
  if (!st) {
    backend_->rollback();
    return st;
  }
  if (auto c = backend_->commit(); !c) {
    backend_->rollback();
    return c;
  }
  return okStatus();
}

Status SqlStore::exec(const Query& q, const std::string& what) {
  std::lock_guard lock(mu_);
  auto r = backend_->run(q, what);
  if (!r) return r.refusal();
  return okStatus();
}

Status SqlStore::write(std::string_view kind, const std::string& key, const Query& q,
                       const std::string& what) {
  return transaction([&]() -> Status {
    if (auto st = exec(q, what); !st) return st;
    return backend_->changed(kind, key);
  });
}

Result<int64_t> SqlStore::scalar(const Query& q, const std::string& what) {
  auto v = list<std::optional<int64_t>>(q, what, [](const SqlRow& row) {
    return row.isNull(0) ? std::optional<int64_t>() : std::optional<int64_t>(row.i64(0));
  });
  if (!v) return v.refusal();
  if (v->empty() || !v->front())
    return Refusal{RefusalCode::Unavailable, "", "store: " + what + ": no value"};
  return *v->front();
}

Status SqlStore::insertTarget(const Target& t) {
  Query q(
      "INSERT INTO targets(name,address,os,ssh_port,winrm_http_port,winrm_https_port,"
      "created_at) VALUES(?,?,?,?,?,?,?)");
  q.bind(t.name)
      .bind(t.address)
      .bind(std::string(toString(t.os)))
      .bind(t.sshPort)
      .bind(t.winrmHttpPort)
      .bind(t.winrmHttpsPort)
      .bind(toEpoch(t.createdAt));
  return write("target", t.name, q, "insert target");
}

Status SqlStore::deleteTarget(const std::string& name) {
  return write("target", name, Query("DELETE FROM targets WHERE name=?").bind(name),
               "delete target");
}

Result<std::optional<Target>> SqlStore::target(const std::string& name) {
  return one<Target>(Query(kTargetSelect + " WHERE name=?").bind(name), "read target", readTarget);
}

Result<std::vector<Target>> SqlStore::targets() {
  return list<Target>(Query(kTargetSelect + " ORDER BY name"), "list targets", readTarget);
}

Status SqlStore::upsertPolicy(const Policy& p) {
  Query q(
      "INSERT INTO policies(target,rules,require_approval,updated_at,updated_by,"
      "min_request_prefix_v4,min_request_prefix_v6) "
      "VALUES(?,?,?,?,?,?,?) ON CONFLICT(target) DO UPDATE SET rules=excluded.rules,"
      "require_approval=excluded.require_approval,updated_at=excluded.updated_at,"
      "updated_by=excluded.updated_by,min_request_prefix_v4=excluded.min_request_prefix_v4,"
      "min_request_prefix_v6=excluded.min_request_prefix_v6");
  q.bind(p.target)
      .bind(json::serialize(rulesToJson(p.ports)))
      .bind(int64_t{p.requireApproval})
      .bind(toEpoch(p.updatedAt))
      .bind(p.updatedBy)
      .bind(int64_t{p.minRequestPrefixV4})
      .bind(int64_t{p.minRequestPrefixV6});
  return write("policy", p.target, q, "write policy");
}

Status SqlStore::deletePolicy(const std::string& target) {
  return write("policy", target, Query("DELETE FROM policies WHERE target=?").bind(target),
               "delete policy");
}

Result<std::optional<Policy>> SqlStore::policy(const std::string& target) {
  return one<Policy>(Query(kPolicySelect + " WHERE target=?").bind(target), "read policy",
                     readPolicy);
}

Result<std::vector<Policy>> SqlStore::policies() {
  return list<Policy>(Query(kPolicySelect + " ORDER BY target"), "list policies", readPolicy);
}

Status SqlStore::insertGrant(const Grant& g) {
  Query q(
      "INSERT INTO grants(id,\"user\",target,port,source,start_at,end_at,requested_by,"
      "approved_by,justification,request_id,state,revoked_at,revoked_by) "
      "VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
  q.bind(g.id)
      .bind(g.user)
      .bind(g.target)
      .bind(g.port)
      .bind(g.source.toString())
      .bind(toEpoch(g.start))
      .bind(toEpoch(g.end))
      .bind(g.requestedBy)
      .bind(g.approvedBy)
      .bind(g.justification)
      .bind(g.requestId)
      .bind(std::string(toString(g.state)))
      .bindOpt(g.revokedAt)
      .bind(g.revokedBy);
  return write("grant", g.id, q, "insert grant");
}

Status SqlStore::updateGrant(const Grant& g) {
  // Only an active grant changes state: a revoked one never becomes
  // expired, nor the other way round.
  // The end moves only on a grant that stays active (an extension): an
  // expiry or revoke recorded from an older copy never moves it back.
  Query q(
      "UPDATE grants SET state=?,revoked_at=?,revoked_by=?,"
      "end_at=CASE WHEN ?='active' THEN ? ELSE end_at END WHERE id=? AND state='active'");
  std::string state(toString(g.state));
  q.bind(state).bindOpt(g.revokedAt).bind(g.revokedBy).bind(state).bind(toEpoch(g.end)).bind(g.id);
  return transaction([&]() -> Status {
    std::lock_guard lock(mu_);
    auto n = backend_->run(q, "update grant");
    if (!n) return n.refusal();
    if (*n != 1)
      return Refusal{RefusalCode::Conflict, "grant", "grant " + g.id + " is no longer active"};
    return backend_->changed("grant", g.id);
  });
}

Result<std::optional<Grant>> SqlStore::grant(const std::string& id) {
  return one<Grant>(Query(kGrantSelect + " WHERE id=?").bind(id), "read grant", readGrant);
}

Result<std::vector<Grant>> SqlStore::grants(bool activeOnly) {
  Query q(activeOnly ? kGrantSelect + " WHERE state='active' ORDER BY start_at, id"
                     : kGrantSelect + " ORDER BY start_at, id");
  return list<Grant>(q, "list grants", readGrant);
}

Result<int64_t> SqlStore::countGrantsCreatedSince(const std::string& target, SysTime since) {
  Query q("SELECT COUNT(*) FROM grants WHERE target=? AND start_at>=?");
  return scalar(q.bind(target).bind(toEpoch(since)), "count grants");
}

Status SqlStore::insertRequest(const AccessRequest& r) {
  Query q(
      "INSERT INTO requests(id,requester,target,ports,justification,state,created_at,"
      "decided_by,decided_at,reason,grant_ids) VALUES(?,?,?,?,?,?,?,?,?,?,?)");
  q.bind(r.id)
      .bind(r.requester)
      .bind(r.target)
      .bind(json::serialize(portsToJson(r.ports)))
      .bind(r.justification)
      .bind(std::string(toString(r.state)))
      .bind(toEpoch(r.createdAt))
      .bind(r.decidedBy)
      .bindOpt(r.decidedAt)
      .bind(r.reason)
      .bind(stringsToJson(r.grantIds));
  return write("request", r.id, q, "insert request");
}

Status SqlStore::updateRequest(const AccessRequest& r) {
  Query q(
      "UPDATE requests SET state=?,decided_by=?,decided_at=?,reason=?,grant_ids=? "
      "WHERE id=?");
  q.bind(std::string(toString(r.state)))
      .bind(r.decidedBy)
      .bindOpt(r.decidedAt)
      .bind(r.reason)
      .bind(stringsToJson(r.grantIds))
      .bind(r.id);
  return write("request", r.id, q, "update request");
}

Result<std::optional<AccessRequest>> SqlStore::request(const std::string& id) {
  return one<AccessRequest>(Query(kRequestSelect + " WHERE id=?").bind(id), "read request",
                            readRequest);
}

Result<std::vector<AccessRequest>> SqlStore::requests() {
  return list<AccessRequest>(Query(kRequestSelect + " ORDER BY created_at, id"), "list requests",
                             readRequest);
}

Status SqlStore::insertUser(const User& u) {
  Query q("INSERT INTO users(name,keys,created_at) VALUES(?,?,?)");
  q.bind(u.name).bind(keysToJson(u.keys)).bind(toEpoch(u.createdAt));
  return write("user", u.name, q, "insert user");
}

Status SqlStore::updateUser(const User& u) {
  Query q("UPDATE users SET keys=? WHERE name=?");
  return write("user", u.name, q.bind(keysToJson(u.keys)).bind(u.name), "update user");
}

Status SqlStore::deleteUser(const std::string& name) {
  return write("user", name, Query("DELETE FROM users WHERE name=?").bind(name), "delete user");
}

Result<std::optional<User>> SqlStore::user(const std::string& name) {
  return one<User>(Query(kUserSelect + " WHERE name=?").bind(name), "read user", readUser);
}

Result<std::vector<User>> SqlStore::users() {
  return list<User>(Query(kUserSelect + " ORDER BY name"), "list users", readUser);
}

Status SqlStore::insertCertificate(const IssuedCertificate& c) {
  Query q(
      "INSERT INTO certificates(serial,kind,grant_id,\"user\",key_id,ca_key_id,valid_after,"
      "valid_before,issued_at,issued_by,subject_fingerprint) VALUES(?,?,?,?,?,?,?,?,?,?,?)");
  // Serials are below 2^63, so they fit a signed 64-bit column.
  q.bind(static_cast<int64_t>(c.serial))
      .bind(c.kind)
      .bind(c.grantId)
      .bind(c.user)
      .bind(c.keyId)
      .bind(c.caKeyId)
      .bind(toEpoch(c.validAfter))
      .bind(toEpoch(c.validBefore))
      .bind(toEpoch(c.issuedAt))
      .bind(c.issuedBy)
      .bind(c.subjectFingerprint);
  return exec(q, "insert certificate");
}

Result<std::vector<IssuedCertificate>> SqlStore::revokedCertificates(const std::string& kind,
                                                                     SysTime now) {
  Query q(kCertificateSelect +
          " JOIN grants g ON g.id=c.grant_id WHERE g.state='revoked' AND c.kind=? AND "
          "c.valid_before>? ORDER BY c.serial");
  return list<IssuedCertificate>(q.bind(kind).bind(toEpoch(now)), "list revoked certificates",
                                 readCertificate);
}

Result<std::optional<SysTime>> SqlStore::lastValidBefore(int64_t caKeyId) {
  Query q("SELECT MAX(valid_before) FROM certificates WHERE ca_key_id=?");
  auto v = list<std::optional<SysTime>>(q.bind(caKeyId), "read certificates", [](const SqlRow& r) {
    return r.isNull(0) ? std::optional<SysTime>() : std::optional<SysTime>(fromEpoch(r.i64(0)));
  });
  if (!v) return v.refusal();
  if (v->empty()) return std::optional<SysTime>();
  return v->front();
}

Result<int64_t> SqlStore::insertCaKey(const CaKeyRecord& k) {
  Query q(
      "INSERT INTO ca_keys(kind,algorithm,public_key,file,created_at) VALUES(?,?,?,?,?) "
      "RETURNING id");
  q.bind(k.kind).bind(k.algorithm).bind(k.publicKey).bind(k.file).bind(toEpoch(k.createdAt));
  int64_t id = 0;
  auto st = transaction([&]() -> Status {
    auto r = scalar(q, "insert CA key");
    if (!r) return r.refusal();
    id = *r;
    return backend_->changed("ca", k.kind);
  });
  if (!st) return st.refusal();
  return id;
}

Status SqlStore::retireCaKey(int64_t id, SysTime at) {
  Query q("UPDATE ca_keys SET retired_at=? WHERE id=? AND retired_at IS NULL");
  return write("ca", std::to_string(id), q.bind(toEpoch(at)).bind(id), "retire CA key");
}

Result<std::vector<CaKeyRecord>> SqlStore::caKeys(const std::string& kind) {
  return list<CaKeyRecord>(Query(kCaKeySelect + " WHERE kind=? ORDER BY id").bind(kind),
                           "list CA keys", readCaKey);
}

Result<int64_t> SqlStore::appendAudit(const AuditEntry& e) {
  Query q(
      "INSERT INTO audit(time_ms,actor,action,outcome,target,port,source,\"user\",grant_id,"
      "request_id,detail,node,session) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?) RETURNING seq");
  q.bind(static_cast<int64_t>(e.time.time_since_epoch().count()))
      .bind(e.actor)
      .bind(e.action)
      .bind(e.outcome)
      .bind(e.target)
      .bindOpt(e.port)
      .bind(e.source)
      .bind(e.user)
      .bind(e.grantId)
      .bind(e.requestId)
      .bind(e.detail)
      .bind(e.node.empty() ? node_ : e.node)
      .bind(e.session);
  return scalar(q, "append audit");
}

Result<std::vector<AuditEntry>> SqlStore::audit(const AuditQuery& aq) {
  std::string text = kAuditSelect + " WHERE 1=1";
  if (!aq.target.empty()) text += " AND target=?";
  if (aq.since) text += " AND time_ms>=?";
  text += " ORDER BY seq DESC";
  if (aq.limit) text += " LIMIT " + std::to_string(aq.limit);
  Query q(text);
  if (!aq.target.empty()) q.bind(aq.target);
  if (aq.since) q.bind(toEpoch(*aq.since) * 1000);
  auto out = list<AuditEntry>(q, "read audit", readAudit);
  if (out) std::reverse(out->begin(), out->end());
  return out;
}

Result<std::optional<AuditEntry>> SqlStore::lastAudit(const std::string& target,
                                                      const std::string& action) {
  Query q(kAuditSelect + " WHERE target=? AND action=? ORDER BY seq DESC LIMIT 1");
  return one<AuditEntry>(q.bind(target).bind(action), "read audit", readAudit);
}

}  // namespace jitgate::sql
