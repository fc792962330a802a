// The SQLite backend of the store (one node's file). WAL + synchronous=FULL
// so that a commit that returned survives kill -9 and power loss; schema
// versions in PRAGMA user_version.
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "jitgate/handle.hpp"
#include "jitgate/store.hpp"
#include "sql_store.hpp"

namespace jitgate {
namespace {

using namespace sql;

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
    // 5: the nodes sharing the store, and the node and session of each
    // audit entry (docs/SCALE_OUT.md); addresses are a JSON array.
    R"sql(
ALTER TABLE audit ADD COLUMN node TEXT NOT NULL DEFAULT '';
ALTER TABLE audit ADD COLUMN session TEXT NOT NULL DEFAULT '';
CREATE INDEX audit_node_action_time ON audit(node, action, time_ms);
CREATE INDEX audit_node_session ON audit(node, session);
CREATE TABLE nodes (
  name TEXT PRIMARY KEY,
  addresses TEXT NOT NULL,
  version TEXT NOT NULL,
  started_at INTEGER NOT NULL,
  heartbeat_ms INTEGER NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('up','lost')),
  lost_at INTEGER,
  lost_by TEXT NOT NULL DEFAULT ''
);
)sql",
};

using SqliteDbPtr = CHandle<sqlite3, sqlite3_close_v2>;
using SqliteStmtPtr = CHandle<sqlite3_stmt, sqlite3_finalize>;

Refusal dbError(sqlite3* db, const std::string& what) {
  return Refusal{RefusalCode::Unavailable, "",
                 "store: " + what + ": " + (db ? sqlite3_errmsg(db) : "no database")};
}

// The current row of a stepped statement.
class SqliteRow final : public SqlRow {
 public:
  explicit SqliteRow(sqlite3_stmt* s) : s_(s) {}
  bool isNull(int col) const override { return sqlite3_column_type(s_, col) == SQLITE_NULL; }
  int64_t i64(int col) const override { return sqlite3_column_int64(s_, col); }
  std::string text(int col) const override {
    auto p = sqlite3_column_text(s_, col);
    int n = sqlite3_column_bytes(s_, col);
    return p ? std::string(reinterpret_cast<const char*>(p), n) : std::string();
  }

 private:
  sqlite3_stmt* s_;
};

class SqliteBackend final : public SqlBackend {
 public:
  explicit SqliteBackend(SqliteDbPtr db) : db_(std::move(db)) {}

  Result<int64_t> run(const Query& q, const std::string& what, const RowFn& onRow) override {
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v2(db(), q.sql.c_str(), -1, &raw, nullptr) != SQLITE_OK)
      return dbError(db(), what);
    SqliteStmtPtr stmt(raw);
    int idx = 0;
    for (const auto& v : q.params) {
      ++idx;
      int rc = SQLITE_OK;
      if (const auto* i = std::get_if<int64_t>(&v)) {
        rc = sqlite3_bind_int64(raw, idx, *i);
      } else if (const auto* t = std::get_if<std::string>(&v)) {
        rc = sqlite3_bind_text(raw, idx, t->data(), static_cast<int>(t->size()), SQLITE_TRANSIENT);
      } else {
        rc = sqlite3_bind_null(raw, idx);
      }
      if (rc != SQLITE_OK) return dbError(db(), what);
    }
    SqliteRow row(raw);
    int rc;
    while ((rc = sqlite3_step(raw)) == SQLITE_ROW) {
      if (!onRow) continue;
      if (auto st = onRow(row); !st) return st.refusal();
    }
    if (rc == SQLITE_CONSTRAINT) return Refusal{RefusalCode::AlreadyExists, "", "already exists"};
    if (rc != SQLITE_DONE) return dbError(db(), what);
    return static_cast<int64_t>(sqlite3_changes(db()));
  }

  Status begin() override { return exec("BEGIN IMMEDIATE"); }
  Status commit() override { return exec("COMMIT"); }
  void rollback() override { (void)exec("ROLLBACK"); }
  // One node's file: nobody else to tell.
  Status changed(std::string_view, const std::string&) override { return okStatus(); }

  Status init() {
    const char* pragmas =
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"
        "PRAGMA busy_timeout=5000;";
    if (auto st = exec(pragmas); !st) return st;
    std::string mode;
    int64_t version = 0;
    // journal_mode answers with a row; make sure WAL took.
    auto m = run(Query("PRAGMA journal_mode"), "read journal mode", [&](const SqlRow& r) {
      mode = r.text(0);
      return okStatus();
    });
    if (!m || mode != "wal") return dbError(db(), "cannot enable WAL");
    auto v = run(Query("PRAGMA user_version"), "read schema version", [&](const SqlRow& r) {
      version = r.i64(0);
      return okStatus();
    });
    if (!v) return v.refusal();
    constexpr int64_t latest = std::size(kMigrations);
    if (version > latest)
      return Refusal{RefusalCode::Unavailable, "",
                     "store: schema version " + std::to_string(version) +
                         " is newer than this jitgated knows (" + std::to_string(latest) + ")"};
    for (int64_t at = version; at < latest; ++at) {
      if (auto st = begin(); !st) return st;
      auto st = exec(kMigrations[at]);
      if (st) st = exec("PRAGMA user_version=" + std::to_string(at + 1));
      if (st) st = commit();
      if (!st) {
        rollback();
        return st;
      }
    }
    return okStatus();
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

  SqliteDbPtr db_;
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
  auto backend = std::make_unique<SqliteBackend>(std::move(db));
  if (auto st = backend->init(); !st) return st.refusal();
  return std::unique_ptr<Store>(std::make_unique<SqlStore>(std::move(backend)));
}

}  // namespace jitgate
