// SQLite store. WAL + synchronous=FULL so that a commit that returned survives
// kill -9 and power loss; schema versions in PRAGMA user_version.
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cerrno>
#include <cstring>
#include <memory>

#include "jitgate/store.hpp"
#include "sqlite_rows.hpp"

namespace jitgate {
namespace {

namespace json = boost::json;

using namespace sqlite;

// Each entry moves the schema one version up; never edit a released one.
constexpr const char* kMigrations[] = {
    R"sql(
CREATE TABLE targets (
  name TEXT PRIMARY KEY,
  address TEXT NOT NULL,
  os TEXT NOT NULL CHECK (os IN ('linux','windows')),
  ssh_port INTEGER NOT NULL,
  winrm_http_port INTEGER NOT NULL,
  winrm_https_port INTEGER NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE TABLE policies (
  target TEXT PRIMARY KEY REFERENCES targets(name),
  rules TEXT NOT NULL,
  require_approval INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  updated_by TEXT NOT NULL
);
CREATE TABLE grants (
  id TEXT PRIMARY KEY,
  user TEXT NOT NULL,
  target TEXT NOT NULL,
  port INTEGER NOT NULL,
  source TEXT NOT NULL,
  start_at INTEGER NOT NULL,
  end_at INTEGER NOT NULL,
  requested_by TEXT NOT NULL,
  approved_by TEXT NOT NULL,
  justification TEXT NOT NULL,
  request_id TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('active','expired','revoked')),
  revoked_at INTEGER,
  revoked_by TEXT NOT NULL DEFAULT ''
);
CREATE INDEX grants_state ON grants(state);
CREATE INDEX grants_target_start ON grants(target, start_at);
CREATE TABLE requests (
  id TEXT PRIMARY KEY,
  requester TEXT NOT NULL,
  target TEXT NOT NULL,
  ports TEXT NOT NULL,
  justification TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('pending','approved','denied')),
  created_at INTEGER NOT NULL,
  decided_by TEXT NOT NULL DEFAULT '',
  decided_at INTEGER,
  reason TEXT NOT NULL DEFAULT '',
  grant_ids TEXT NOT NULL DEFAULT '[]'
);
CREATE TABLE users (
  name TEXT PRIMARY KEY,
  keys TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE TABLE audit (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  time_ms INTEGER NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  outcome TEXT NOT NULL,
  target TEXT NOT NULL,
  port INTEGER,
  source TEXT NOT NULL,
  user TEXT NOT NULL,
  grant_id TEXT NOT NULL,
  request_id TEXT NOT NULL,
  detail TEXT NOT NULL
);
CREATE INDEX audit_target_time ON audit(target, time_ms);
CREATE INDEX audit_time ON audit(time_ms);
)sql",
    // 2: the target summary's "last access" lookup.
    R"sql(
CREATE INDEX audit_target_action_seq ON audit(target, action, seq);
)sql",
    // 3: the certificate authority.
    R"sql(
CREATE TABLE ca_keys (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  kind TEXT NOT NULL CHECK (kind IN ('ssh','x509')),
  algorithm TEXT NOT NULL,
  public_key TEXT NOT NULL,
  file TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  retired_at INTEGER
);
CREATE TABLE certificates (
  serial INTEGER PRIMARY KEY,
  kind TEXT NOT NULL CHECK (kind IN ('ssh','x509')),
  grant_id TEXT NOT NULL,
  user TEXT NOT NULL,
  key_id TEXT NOT NULL,
  ca_key_id INTEGER NOT NULL REFERENCES ca_keys(id),
  valid_after INTEGER NOT NULL,
  valid_before INTEGER NOT NULL,
  issued_at INTEGER NOT NULL,
  issued_by TEXT NOT NULL,
  subject_fingerprint TEXT NOT NULL
);
CREATE INDEX certificates_grant ON certificates(grant_id);
CREATE INDEX certificates_ca ON certificates(ca_key_id, valid_before);
)sql",
    // 4: the widest source a request may ask for, per policy (defaults as
    // kDefaultMinRequestPrefixV4/V6).
    R"sql(
ALTER TABLE policies ADD COLUMN min_request_prefix_v4 INTEGER NOT NULL DEFAULT 24;
ALTER TABLE policies ADD COLUMN min_request_prefix_v6 INTEGER NOT NULL DEFAULT 64;
)sql",
};

class SqliteStore final : public Store {
 public:
  explicit SqliteStore(SqliteDbPtr db) : db_(std::move(db)) {}

  Status init() {
    const char* pragmas =
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"
        "PRAGMA busy_timeout=5000;";
    if (auto st = exec(pragmas); !st) return st;
    {
      // journal_mode answers with a row; make sure WAL took.
      Stmt mode(db(), "PRAGMA journal_mode");
      if (!mode.step() || mode.text(0) != "wal") return dbError(db(), "cannot enable WAL");
    }
    int64_t version = 0;
    {
      Stmt ver(db(), "PRAGMA user_version");
      if (!ver.step()) return dbError(db(), "read schema version");
      version = ver.i64(0);
    }
    constexpr int64_t latest = std::size(kMigrations);
    if (version > latest)
      return Refusal{RefusalCode::Unavailable, "",
                     "store: schema version " + std::to_string(version) +
                         " is newer than this jitgated knows (" + std::to_string(latest) + ")"};
    for (int64_t v = version; v < latest; ++v) {
      auto st = transaction([&]() -> Status {
        if (auto s = exec(kMigrations[v]); !s) return s;
        return exec("PRAGMA user_version=" + std::to_string(v + 1));
      });
      if (!st) return st;
    }
    return okStatus();
  }

  Status transaction(const std::function<Status()>& body) override {
    if (inTransaction_) return body();  // nested: part of the outer one
    if (auto st = exec("BEGIN IMMEDIATE"); !st) return st;
    inTransaction_ = true;
    Status st = okStatus();
    try {
      st = body();
    } catch (...) {
      // Never leave a transaction open: later writes would look nested and
      // never commit.
      inTransaction_ = false;
      (void)exec("ROLLBACK");
      throw;
    }
    inTransaction_ = false;
    if (!st) {
      (void)exec("ROLLBACK");
      return st;
    }
    if (auto c = exec("COMMIT"); !c) {
      (void)exec("ROLLBACK");
      return c;
    }
    return okStatus();
  }

  Status insertTarget(const Target& t) override {
    Stmt s(db(),
           "INSERT INTO targets(name,address,os,ssh_port,winrm_http_port,winrm_https_port,"
           "created_at) VALUES(?,?,?,?,?,?,?)");
    s.bind(t.name)
        .bind(t.address)
        .bind(std::string(toString(t.os)))
        .bind(t.sshPort)
        .bind(t.winrmHttpPort)
        .bind(t.winrmHttpsPort)
        .bind(toEpoch(t.createdAt));
    return run(s, "insert target");
  }
  Status deleteTarget(const std::string& name) override {
    Stmt s(db(), "DELETE FROM targets WHERE name=?");
    s.bind(name);
    return run(s, "delete target");
  }
  Result<std::optional<Target>> target(const std::string& name) override {
    Stmt s(db(), kTargetSelect + " WHERE name=?");
    s.bind(name);
    if (s.step()) return std::optional<Target>(readTarget(s));
    if (s.failed()) return dbError(db(), "read target");
    return std::optional<Target>();
  }
  Result<std::vector<Target>> targets() override {
    Stmt s(db(), kTargetSelect + " ORDER BY name");
    std::vector<Target> out;
    while (s.step()) out.push_back(readTarget(s));
    if (s.failed()) return dbError(db(), "list targets");
    return out;
  }

  Status upsertPolicy(const Policy& p) override {
    Stmt s(db(),
           "INSERT INTO policies(target,rules,require_approval,updated_at,updated_by,"
           "min_request_prefix_v4,min_request_prefix_v6) "
           "VALUES(?,?,?,?,?,?,?) ON CONFLICT(target) DO UPDATE SET rules=excluded.rules,"
           "require_approval=excluded.require_approval,updated_at=excluded.updated_at,"
           "updated_by=excluded.updated_by,min_request_prefix_v4=excluded.min_request_prefix_v4,"
           "min_request_prefix_v6=excluded.min_request_prefix_v6");
    s.bind(p.target)
        .bind(json::serialize(rulesToJson(p.ports)))
        .bind(int64_t{p.requireApproval})
        .bind(toEpoch(p.updatedAt))
        .bind(p.updatedBy)
        .bind(int64_t{p.minRequestPrefixV4})
        .bind(int64_t{p.minRequestPrefixV6});
    return run(s, "write policy");
  }
  Status deletePolicy(const std::string& target) override {
    Stmt s(db(), "DELETE FROM policies WHERE target=?");
    s.bind(target);
    return run(s, "delete policy");
  }
  Result<std::optional<Policy>> policy(const std::string& target) override {
    Stmt s(db(), kPolicySelect + " WHERE target=?");
    s.bind(target);
    if (s.step()) {
      auto p = readPolicy(s);
      if (!p) return p.refusal();
      return std::optional<Policy>(std::move(*p));
    }
    if (s.failed()) return dbError(db(), "read policy");
    return std::optional<Policy>();
  }
  Result<std::vector<Policy>> policies() override {
    Stmt s(db(), kPolicySelect + " ORDER BY target");
    std::vector<Policy> out;
    while (s.step()) {
      auto p = readPolicy(s);
      if (!p) return p.refusal();
      out.push_back(std::move(*p));
    }
    if (s.failed()) return dbError(db(), "list policies");
    return out;
  }

  Status insertGrant(const Grant& g) override {
    Stmt s(db(),
           "INSERT INTO grants(id,user,target,port,source,start_at,end_at,requested_by,"
           "approved_by,justification,request_id,state,revoked_at,revoked_by) "
           "VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
    s.bind(g.id)
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
    return run(s, "insert grant");
  }
  Status updateGrant(const Grant& g) override {
    // Only an active grant changes state: a revoked one never becomes
    // expired, nor the other way round.
    Stmt s(db(),
           "UPDATE grants SET state=?,revoked_at=?,revoked_by=? WHERE id=? AND state='active'");
    s.bind(std::string(toString(g.state))).bindOpt(g.revokedAt).bind(g.revokedBy).bind(g.id);
    if (auto st = run(s, "update grant"); !st) return st;
    if (sqlite3_changes(db()) != 1)
      return Refusal{RefusalCode::Conflict, "grant", "grant " + g.id + " is no longer active"};
    return okStatus();
  }
  Result<std::optional<Grant>> grant(const std::string& id) override {
    Stmt s(db(), kGrantSelect + " WHERE id=?");
    s.bind(id);
    if (s.step()) {
      auto g = readGrant(s);
      if (!g) return g.refusal();
      return std::optional<Grant>(std::move(*g));
    }
    if (s.failed()) return dbError(db(), "read grant");
    return std::optional<Grant>();
  }
  Result<std::vector<Grant>> grants(bool activeOnly) override {
    Stmt s(db(), activeOnly ? kGrantSelect + " WHERE state='active' ORDER BY start_at, id"
                            : kGrantSelect + " ORDER BY start_at, id");
    std::vector<Grant> out;
    while (s.step()) {
      auto g = readGrant(s);
      if (!g) return g.refusal();
      out.push_back(std::move(*g));
    }
    if (s.failed()) return dbError(db(), "list grants");
    return out;
  }
  Result<int64_t> countGrantsCreatedSince(const std::string& target, SysTime since) override {
    Stmt s(db(), "SELECT COUNT(*) FROM grants WHERE target=? AND start_at>=?");
    s.bind(target).bind(toEpoch(since));
    if (!s.step()) return dbError(db(), "count grants");
    return s.i64(0);
  }

  Status insertRequest(const AccessRequest& r) override {
    Stmt s(db(),
           "INSERT INTO requests(id,requester,target,ports,justification,state,created_at,"
           "decided_by,decided_at,reason,grant_ids) VALUES(?,?,?,?,?,?,?,?,?,?,?)");
    s.bind(r.id)
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
    return run(s, "insert request");
  }
  Status updateRequest(const AccessRequest& r) override {
    Stmt s(db(),
           "UPDATE requests SET state=?,decided_by=?,decided_at=?,reason=?,grant_ids=? "
           "WHERE id=?");
    s.bind(std::string(toString(r.state)))
        .bind(r.decidedBy)
        .bindOpt(r.decidedAt)
        .bind(r.reason)
        .bind(stringsToJson(r.grantIds))
        .bind(r.id);
    return run(s, "update request");
  }
  Result<std::optional<AccessRequest>> request(const std::string& id) override {
    Stmt s(db(), kRequestSelect + " WHERE id=?");
    s.bind(id);
    if (s.step()) {
      auto r = readRequest(s);
      if (!r) return r.refusal();
      return std::optional<AccessRequest>(std::move(*r));
    }
    if (s.failed()) return dbError(db(), "read request");
    return std::optional<AccessRequest>();
  }
  Result<std::vector<AccessRequest>> requests() override {
    Stmt s(db(), kRequestSelect + " ORDER BY created_at, id");
    std::vector<AccessRequest> out;
    while (s.step()) {
      auto r = readRequest(s);
      if (!r) return r.refusal();
      out.push_back(std::move(*r));
    }
    if (s.failed()) return dbError(db(), "list requests");
    return out;
  }

  Status insertUser(const User& u) override {
    Stmt s(db(), "INSERT INTO users(name,keys,created_at) VALUES(?,?,?)");
    s.bind(u.name).bind(keysToJson(u.keys)).bind(toEpoch(u.createdAt));
    return run(s, "insert user");
  }
  Status updateUser(const User& u) override {
    Stmt s(db(), "UPDATE users SET keys=? WHERE name=?");
    s.bind(keysToJson(u.keys)).bind(u.name);
    return run(s, "update user");
  }
  Status deleteUser(const std::string& name) override {
    Stmt s(db(), "DELETE FROM users WHERE name=?");
    s.bind(name);
    return run(s, "delete user");
  }
  Result<std::optional<User>> user(const std::string& name) override {
    Stmt s(db(), "SELECT name,keys,created_at FROM users WHERE name=?");
    s.bind(name);
    if (s.step()) return std::optional<User>(readUser(s));
    if (s.failed()) return dbError(db(), "read user");
    return std::optional<User>();
  }
  Result<std::vector<User>> users() override {
    Stmt s(db(), "SELECT name,keys,created_at FROM users ORDER BY name");
    std::vector<User> out;
    while (s.step()) out.push_back(readUser(s));
    if (s.failed()) return dbError(db(), "list users");
    return out;
  }

  Status insertCertificate(const IssuedCertificate& c) override {
    Stmt s(db(),
           "INSERT INTO certificates(serial,kind,grant_id,user,key_id,ca_key_id,valid_after,"
           "valid_before,issued_at,issued_by,subject_fingerprint) VALUES(?,?,?,?,?,?,?,?,?,?,?)");
    // Serials are below 2^63, so they fit SQLite's signed integer.
    s.bind(static_cast<int64_t>(c.serial))
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
    return run(s, "insert certificate");
  }
  Result<std::vector<IssuedCertificate>> revokedCertificates(const std::string& kind,
                                                             SysTime now) override {
    Stmt s(db(),
           "SELECT c.serial,c.kind,c.grant_id,c.user,c.key_id,c.ca_key_id,c.valid_after,"
           "c.valid_before,c.issued_at,c.issued_by,c.subject_fingerprint FROM certificates c "
           "JOIN grants g ON g.id=c.grant_id WHERE g.state='revoked' AND c.kind=? AND "
           "c.valid_before>? ORDER BY c.serial");
    s.bind(kind).bind(toEpoch(now));
    std::vector<IssuedCertificate> out;
    while (s.step()) {
      IssuedCertificate c;
      c.serial = static_cast<uint64_t>(s.i64(0));
      c.kind = s.text(1);
      c.grantId = s.text(2);
      c.user = s.text(3);
      c.keyId = s.text(4);
      c.caKeyId = s.i64(5);
      c.validAfter = fromEpoch(s.i64(6));
      c.validBefore = fromEpoch(s.i64(7));
      c.issuedAt = fromEpoch(s.i64(8));
      c.issuedBy = s.text(9);
      c.subjectFingerprint = s.text(10);
      out.push_back(std::move(c));
    }
    if (s.failed()) return dbError(db(), "list revoked certificates");
    return out;
  }
  Result<std::optional<SysTime>> lastValidBefore(int64_t caKeyId) override {
    Stmt s(db(), "SELECT MAX(valid_before) FROM certificates WHERE ca_key_id=?");
    s.bind(caKeyId);
    if (!s.step()) return dbError(db(), "read certificates");
    if (s.isNull(0)) return std::optional<SysTime>();
    return std::optional<SysTime>(fromEpoch(s.i64(0)));
  }
  Result<int64_t> insertCaKey(const CaKeyRecord& k) override {
    Stmt s(db(),
           "INSERT INTO ca_keys(kind,algorithm,public_key,file,created_at) VALUES(?,?,?,?,?)");
    s.bind(k.kind).bind(k.algorithm).bind(k.publicKey).bind(k.file).bind(toEpoch(k.createdAt));
    if (auto st = run(s, "insert CA key"); !st) return st.refusal();
    return static_cast<int64_t>(sqlite3_last_insert_rowid(db()));
  }
  Status retireCaKey(int64_t id, SysTime at) override {
    Stmt s(db(), "UPDATE ca_keys SET retired_at=? WHERE id=? AND retired_at IS NULL");
    s.bind(toEpoch(at)).bind(id);
    return run(s, "retire CA key");
  }
  Result<std::vector<CaKeyRecord>> caKeys(const std::string& kind) override {
    Stmt s(db(),
           "SELECT id,kind,algorithm,public_key,file,created_at,retired_at FROM ca_keys "
           "WHERE kind=? ORDER BY id");
    s.bind(kind);
    std::vector<CaKeyRecord> out;
    while (s.step()) {
      CaKeyRecord k;
      k.id = s.i64(0);
      k.kind = s.text(1);
      k.algorithm = s.text(2);
      k.publicKey = s.text(3);
      k.file = s.text(4);
      k.createdAt = fromEpoch(s.i64(5));
      if (!s.isNull(6)) k.retiredAt = fromEpoch(s.i64(6));
      out.push_back(std::move(k));
    }
    if (s.failed()) return dbError(db(), "list CA keys");
    return out;
  }

  Result<int64_t> appendAudit(const AuditEntry& e) override {
    Stmt s(db(),
           "INSERT INTO audit(time_ms,actor,action,outcome,target,port,source,user,grant_id,"
           "request_id,detail) VALUES(?,?,?,?,?,?,?,?,?,?,?)");
    s.bind(static_cast<int64_t>(e.time.time_since_epoch().count()))
        .bind(e.actor)
        .bind(e.action)
        .bind(e.outcome)
        .bind(e.target)
        .bindOpt(e.port)
        .bind(e.source)
        .bind(e.user)
        .bind(e.grantId)
        .bind(e.requestId)
        .bind(e.detail);
    if (auto st = run(s, "append audit"); !st) return st.refusal();
    return static_cast<int64_t>(sqlite3_last_insert_rowid(db()));
  }
  Result<std::vector<AuditEntry>> audit(const AuditQuery& q) override {
    std::string sql = kAuditSelect + " WHERE 1=1";
    if (!q.target.empty()) sql += " AND target=?";
    if (q.since) sql += " AND time_ms>=?";
    sql += " ORDER BY seq DESC";
    if (q.limit) sql += " LIMIT " + std::to_string(q.limit);
    Stmt s(db(), sql);
    if (!q.target.empty()) s.bind(q.target);
    if (q.since) s.bind(toEpoch(*q.since) * 1000);
    std::vector<AuditEntry> out;
    while (s.step()) out.push_back(readAudit(s));
    if (s.failed()) return dbError(db(), "read audit");
    std::reverse(out.begin(), out.end());
    return out;
  }
  Result<std::optional<AuditEntry>> lastAudit(const std::string& target,
                                              const std::string& action) override {
    Stmt s(db(), kAuditSelect + " WHERE target=? AND action=? ORDER BY seq DESC LIMIT 1");
    s.bind(target).bind(action);
    if (s.step()) return std::optional<AuditEntry>(readAudit(s));
    if (s.failed()) return dbError(db(), "read audit");
    return std::optional<AuditEntry>();
  }

 private:
  sqlite3* db() const { return db_.get(); }

  Status exec(const std::string& sql) {
    char* err = nullptr;
    int rc = sqlite3_exec(db(), sql.c_str(), nullptr, nullptr, &err);
    std::string msg = err ? err : "";
    sqlite3_free(err);
    if (rc != SQLITE_OK) return Refusal{RefusalCode::Unavailable, "", "store: " + msg};
    return okStatus();
  }

  Status run(Stmt& s, const std::string& what) {
    s.step();
    if (s.failed()) {
      if (s.code() == SQLITE_CONSTRAINT)
        return Refusal{RefusalCode::AlreadyExists, "", "already exists"};
      return dbError(db(), what);
    }
    return okStatus();
  }

  SqliteDbPtr db_;
  bool inTransaction_ = false;
};

}  // namespace

Result<std::unique_ptr<Store>> openSqliteStore(const std::string& path) {
  // Create the file ourselves so that it is 0600 from the first byte and is
  // never a symlink planted by someone else.
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd)
    return Refusal{RefusalCode::Unavailable, "",
                   "store: cannot open " + path + ": " + std::strerror(errno)};
  // An existing file keeps no looser mode than a new one.
  if (::fchmod(fd.get(), 0600) != 0)
    return Refusal{RefusalCode::Unavailable, "",
                   "store: cannot set mode of " + path + ": " + std::strerror(errno)};
  fd.reset();
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW | SQLITE_OPEN_FULLMUTEX,
                           nullptr);
  SqliteDbPtr db(raw);
  if (rc != SQLITE_OK) return dbError(db.get(), "open " + path);
  auto store = std::make_unique<SqliteStore>(std::move(db));
  if (auto st = store->init(); !st) return st.refusal();
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace jitgate
