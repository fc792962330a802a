// The PostgreSQL schema, as numbered migrations applied by one node at a time
// under an advisory lock. Version 1 holds what SQLite's versions 1 to 4 hold
// (same tables and columns, so a state directory can be copied across) plus
// the change log the nodes follow.
#include <spdlog/spdlog.h>

#include <iterator>

#include "pg_conn.hpp"

namespace jitgate::pg {
namespace {

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
  created_at BIGINT NOT NULL
);
CREATE TABLE policies (
  target TEXT PRIMARY KEY REFERENCES targets(name),
  rules TEXT NOT NULL,
  require_approval INTEGER NOT NULL,
  updated_at BIGINT NOT NULL,
  updated_by TEXT NOT NULL,
  min_request_prefix_v4 INTEGER NOT NULL DEFAULT 24,
  min_request_prefix_v6 INTEGER NOT NULL DEFAULT 64
);
CREATE TABLE grants (
  id TEXT PRIMARY KEY,
  "user" TEXT NOT NULL,
  target TEXT NOT NULL,
  port INTEGER NOT NULL,
  source TEXT NOT NULL,
  start_at BIGINT NOT NULL,
  end_at BIGINT NOT NULL,
  requested_by TEXT NOT NULL,
  approved_by TEXT NOT NULL,
  justification TEXT NOT NULL,
  request_id TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('active','expired','revoked')),
  revoked_at BIGINT,
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
  created_at BIGINT NOT NULL,
  decided_by TEXT NOT NULL DEFAULT '',
  decided_at BIGINT,
  reason TEXT NOT NULL DEFAULT '',
  grant_ids TEXT NOT NULL DEFAULT '[]'
);
CREATE TABLE users (
  name TEXT PRIMARY KEY,
  keys TEXT NOT NULL,
  created_at BIGINT NOT NULL
);
CREATE TABLE audit (
  seq BIGSERIAL PRIMARY KEY,
  time_ms BIGINT NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  outcome TEXT NOT NULL,
  target TEXT NOT NULL,
  port INTEGER,
  source TEXT NOT NULL,
  "user" TEXT NOT NULL,
  grant_id TEXT NOT NULL,
  request_id TEXT NOT NULL,
  detail TEXT NOT NULL
);
CREATE INDEX audit_target_time ON audit(target, time_ms);
CREATE INDEX audit_time ON audit(time_ms);
CREATE INDEX audit_target_action_seq ON audit(target, action, seq);
CREATE TABLE ca_keys (
  id BIGSERIAL PRIMARY KEY,
  kind TEXT NOT NULL CHECK (kind IN ('ssh','x509')),
  algorithm TEXT NOT NULL,
  public_key TEXT NOT NULL,
  file TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  retired_at BIGINT
);
CREATE TABLE certificates (
  serial BIGINT PRIMARY KEY,
  kind TEXT NOT NULL CHECK (kind IN ('ssh','x509')),
  grant_id TEXT NOT NULL,
  "user" TEXT NOT NULL,
  key_id TEXT NOT NULL,
  ca_key_id BIGINT NOT NULL REFERENCES ca_keys(id),
  valid_after BIGINT NOT NULL,
  valid_before BIGINT NOT NULL,
  issued_at BIGINT NOT NULL,
  issued_by TEXT NOT NULL,
  subject_fingerprint TEXT NOT NULL
);
CREATE INDEX certificates_grant ON certificates(grant_id);
CREATE INDEX certificates_ca ON certificates(ca_key_id, valid_before);
-- What changed, in commit order (writers hold the writer lock): the other
-- nodes catch up from the last seq they applied.
CREATE TABLE changes (
  seq BIGSERIAL PRIMARY KEY,
  kind TEXT NOT NULL,
  key TEXT NOT NULL,
  at_ms BIGINT NOT NULL
);
)sql",
    // 2 (SQLite's 5): the nodes sharing the store, and the node and session
    // of each audit entry (docs/SCALE_OUT.md); addresses are a JSON array.
    R"sql(
ALTER TABLE audit ADD COLUMN node TEXT NOT NULL DEFAULT '';
ALTER TABLE audit ADD COLUMN session TEXT NOT NULL DEFAULT '';
CREATE INDEX audit_node_action_time ON audit(node, action, time_ms);
CREATE INDEX audit_node_session ON audit(node, session);
CREATE TABLE nodes (
  name TEXT PRIMARY KEY,
  addresses TEXT NOT NULL,
  version TEXT NOT NULL,
  started_at BIGINT NOT NULL,
  heartbeat_ms BIGINT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('up','lost')),
  lost_at BIGINT,
  lost_by TEXT NOT NULL DEFAULT ''
);
)sql",
};

Status exec(PGconn* c, const std::string& sql, const std::string& what) {
  PgResultPtr r(PQexec(c, sql.c_str()));
  if (!succeeded(r.get())) return failure(c, r.get(), what);
  return okStatus();
}

// Holds the migration lock for its scope (a session-level advisory lock:
// released by the unlock, or by the server when the connection goes).
class MigrationLock {
 public:
  explicit MigrationLock(PGconn* c) : c_(c) {}
  Status acquire() {
    // Another node migrating may take longer than the statement timeout.
    if (auto st = exec(c_, "SET statement_timeout TO 0", "migration lock"); !st) return st;
    auto st = exec(c_, "SELECT pg_advisory_lock(" + std::to_string(kMigrationLock) + ")",
                   "take the migration lock");
    held_ = st.ok();
    return st;
  }
  ~MigrationLock() {
    if (held_)
      (void)exec(c_, "SELECT pg_advisory_unlock(" + std::to_string(kMigrationLock) + ")",
                 "release the migration lock");
    (void)exec(c_, "SET statement_timeout TO '15s'", "migration lock");
  }
  MigrationLock(const MigrationLock&) = delete;
  MigrationLock& operator=(const MigrationLock&) = delete;

 private:
  PGconn* c_;
  bool held_ = false;
};

}  // namespace

int latestSchemaVersion() { return static_cast<int>(std::size(kMigrations)); }

namespace {

// The version recorded in jitgate_schema, creating the table (at 0) if it
// is missing; refuses one newer than this build knows.
Result<int> schemaVersion(PGconn* c) {
  if (auto st = exec(c,
                     "CREATE TABLE IF NOT EXISTS jitgate_schema (version INTEGER NOT NULL);"
                     "INSERT INTO jitgate_schema SELECT 0 WHERE NOT EXISTS "
                     "(SELECT 1 FROM jitgate_schema)",
                     "create the schema version table");
      !st)
    return st.refusal();
  PgResultPtr r(PQexec(c, "SELECT version FROM jitgate_schema"));
  if (!succeeded(r.get()) || PQntuples(r.get()) != 1)
    return failure(c, r.get(), "read the schema version");
  int version = std::atoi(PQgetvalue(r.get(), 0, 0));
  const int latest = latestSchemaVersion();
  if (version > latest)
    return Refusal{RefusalCode::Unavailable, "store",
                   "the PostgreSQL schema is at version " + std::to_string(version) +
                       ", newer than this jitgated knows (" + std::to_string(latest) +
                       "): a newer jitgated migrated it; run that version here too"};
  return version;
}

Status applyMigration(PGconn* c, int at) {
  auto st = exec(c, kMigrations[at], "migration " + std::to_string(at + 1));
  if (st)
    st = exec(c, "UPDATE jitgate_schema SET version=" + std::to_string(at + 1),
              "record schema version");
  return st;
}

}  // namespace

Status migrate(PGconn* c) {
  MigrationLock lock(c);
  if (auto st = lock.acquire(); !st) return st;
  auto version = schemaVersion(c);
  if (!version) return version.refusal();
  for (int at = *version; at < latestSchemaVersion(); ++at) {
    auto st = exec(c, "BEGIN", "begin migration");
    if (st) st = applyMigration(c, at);
    if (st) st = exec(c, "COMMIT", "commit migration");
    if (!st) {
      (void)exec(c, "ROLLBACK", "roll back migration");
      return st;
    }
    spdlog::info("store: PostgreSQL schema migrated to version {}", at + 1);
  }
  return okStatus();
}

Status migrateInTransaction(PGconn* c) {
  auto version = schemaVersion(c);
  if (!version) return version.refusal();
  for (int at = *version; at < latestSchemaVersion(); ++at) {
    if (auto st = applyMigration(c, at); !st) return st;
  }
  return okStatus();
}

}  // namespace jitgate::pg
