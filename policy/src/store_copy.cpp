// `jitgated --copy-store-to URL`: one node's SQLite file copied, table by
// table and row by row, into an empty PostgreSQL database in one transaction
// that commits only once every table read back matches the file.
#include "jitgate/store_copy.hpp"

#include <fcntl.h>
#include <pwd.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <optional>
#include <set>

#include "jitgate/handle.hpp"
#include "jitgate/store.hpp"
#include "pg_conn.hpp"

namespace jitgate {
namespace {

// Every table the two schemas share, parents before children (certificates
// name ca_keys, policies name targets), with the column rows are ordered by.
// Both schemas are checked against this list at run time: a table or a
// column it does not name refuses the copy rather than being left behind.
struct TableSpec {
  const char* table;
  const char* key;
  bool textKey;
  std::vector<const char*> columns;
};

const std::vector<TableSpec>& tables() {
  static const std::vector<TableSpec> all = {
      {"targets",
       "name",
       true,
       {"name", "address", "os", "ssh_port", "winrm_http_port", "winrm_https_port", "created_at"}},
      {"policies",
       "target",
       true,
       {"target", "rules", "require_approval", "updated_at", "updated_by", "min_request_prefix_v4",
        "min_request_prefix_v6"}},
      {"ca_keys",
       "id",
       false,
       {"id", "kind", "algorithm", "public_key", "file", "created_at", "retired_at"}},
      {"certificates",
       "serial",
       false,
       {"serial", "kind", "grant_id", "user", "key_id", "ca_key_id", "valid_after", "valid_before",
        "issued_at", "issued_by", "subject_fingerprint"}},
      {"grants",
       "id",
       true,
       {"id", "user", "target", "port", "source", "start_at", "end_at", "requested_by",
        "approved_by", "justification", "request_id", "state", "revoked_at", "revoked_by"}},
      {"requests",
       "id",
       true,
       {"id", "requester", "target", "ports", "justification", "state", "created_at", "decided_by",
        "decided_at", "reason", "grant_ids"}},
      {"users", "name", true, {"name", "keys", "created_at"}},
      {"audit",
       "seq",
       false,
       {"seq", "time_ms", "actor", "action", "outcome", "target", "port", "source", "user",
        "grant_id", "request_id", "detail", "node", "session"}},
      {"nodes",
       "name",
       true,
       {"name", "addresses", "version", "started_at", "heartbeat_ms", "state", "lost_at",
        "lost_by"}},
  };
  return all;
}

// PostgreSQL's own tables, which SQLite has no counterpart of: the change
// log (no node has followed this database yet: it starts empty) and the
// schema version.
const std::set<std::string> kPostgresOnly = {"changes", "jitgate_schema"};

std::string columnList(const TableSpec& t) {
  std::string out;
  for (const char* c : t.columns) {
    if (!out.empty()) out += ',';
    out += '"' + std::string(c) + '"';
  }
  return out;
}

using Cell = std::optional<std::string>;  // NULL or the value as text
using Row = std::vector<Cell>;

// A table's rows folded in order into one SHA-256, so that the file's and
// the database's can be compared without holding either in memory.
class RowDigest {
 public:
  RowDigest() : ctx_(EVP_MD_CTX_new()) {
    if (!ctx_ || EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) != 1)
      throw std::runtime_error("store copy: cannot start a SHA-256 digest");
  }
  void add(const Row& row) {
    std::string text;
    for (const auto& c : row)
      text += c ? "V" + std::to_string(c->size()) + ":" + *c + ";" : std::string("N;");
    text += '\n';
    EVP_DigestUpdate(ctx_.get(), text.data(), text.size());
    ++rows_;
  }
  std::string finish() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_DigestFinal_ex(ctx_.get(), md, &n);
    return std::string(reinterpret_cast<char*>(md), n);
  }
  int64_t rows() const { return rows_; }

 private:
  EvpMdCtxPtr ctx_;
  int64_t rows_ = 0;
};

Refusal copyFailed(const std::string& what) {
  return Refusal{RefusalCode::Unavailable, "", "store copy: " + what};
}

// --- The SQLite side: read in one read transaction.
using SqliteDbPtr = CHandle<sqlite3, sqlite3_close_v2>;
using SqliteStmtPtr = CHandle<sqlite3_stmt, sqlite3_finalize>;

class SqliteFile {
 public:
  Status open(const std::string& path) {
    sqlite3* raw = nullptr;
    int rc =
        sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW, nullptr);
    db_.reset(raw);
    if (rc != SQLITE_OK) return error("open " + path);
    return exec("BEGIN");
  }
  ~SqliteFile() {
    if (db_) (void)exec("ROLLBACK");
  }

  // Calls `onRow` for each row of `sql`, every column as text or NULL.
  Status each(const std::string& sql, const std::function<Status(const Row&)>& onRow) {
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v2(db_.get(), sql.c_str(), -1, &raw, nullptr) != SQLITE_OK)
      return error(sql);
    SqliteStmtPtr stmt(raw);
    int rc;
    Row row;
    while ((rc = sqlite3_step(raw)) == SQLITE_ROW) {
      row.assign(sqlite3_column_count(raw), std::nullopt);
      for (int i = 0; i < static_cast<int>(row.size()); ++i) {
        if (sqlite3_column_type(raw, i) == SQLITE_NULL) continue;
        auto p = sqlite3_column_text(raw, i);
        row[i] = std::string(reinterpret_cast<const char*>(p), sqlite3_column_bytes(raw, i));
      }
      if (auto st = onRow(row); !st) return st;
    }
    if (rc != SQLITE_DONE) return error(sql);
    return okStatus();
  }
  std::vector<std::string> strings(const std::string& sql, int col = 0) {
    std::vector<std::string> out;
    (void)each(sql, [&](const Row& r) {
      if (r.size() > static_cast<size_t>(col) && r[col]) out.push_back(*r[col]);
      return okStatus();
    });
    return out;
  }

 private:
  Status exec(const std::string& sql) {
    if (sqlite3_exec(db_.get(), sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK)
      return error(sql);
    return okStatus();
  }
  Refusal error(const std::string& what) {
    return copyFailed("SQLite: " + what + ": " +
                      (db_ ? sqlite3_errmsg(db_.get()) : "cannot allocate a handle"));
  }
  SqliteDbPtr db_;
};

// Every table of the file is one we copy, with exactly the columns we copy.
Status checkSqliteSchema(SqliteFile& file) {
  std::set<std::string> known;
  for (const auto& t : tables()) {
    known.insert(t.table);
    auto cols = file.strings(std::string("PRAGMA table_info(") + t.table + ")", 1);
    std::set<std::string> have(cols.begin(), cols.end()), want(t.columns.begin(), t.columns.end());
    if (have != want)
      return copyFailed(std::string("the SQLite table ") + t.table +
                        " does not have the columns this jitgated copies (schema of another "
                        "version?)");
  }
  for (const auto& name : file.strings("SELECT name FROM sqlite_master WHERE type='table'"))
    if (!known.count(name) && name.rfind("sqlite_", 0) != 0)  // SQLite's own
      return copyFailed("the SQLite file holds a table this jitgated does not copy: " + name);
  return okStatus();
}

// --- The PostgreSQL side: one connection, one transaction.
class PgTarget {
 public:
  explicit PgTarget(PGconn* c) : c_(c) {}
  PGconn* conn() const { return c_; }

  Status exec(const std::string& sql, const std::string& what,
              const std::vector<sql::Value>& params = {}) {
    auto r = pg::execParams(c_, sql, params);
    if (!pg::succeeded(r.get())) return pg::failure(c_, r.get(), what);
    return okStatus();
  }
  // The rows of `sql`, every column as text or NULL.
  Result<std::vector<Row>> rows(const std::string& sql, const std::string& what,
                                const std::vector<sql::Value>& params = {}) {
    auto r = pg::execParams(c_, sql, params);
    if (!pg::succeeded(r.get())) return pg::failure(c_, r.get(), what);
    std::vector<Row> out(PQntuples(r.get()));
    for (int i = 0; i < PQntuples(r.get()); ++i) {
      for (int j = 0; j < PQnfields(r.get()); ++j)
        out[i].push_back(
            PQgetisnull(r.get(), i, j)
                ? Cell()
                : Cell(std::string(PQgetvalue(r.get(), i, j), PQgetlength(r.get(), i, j))));
    }
    return out;
  }
  Result<std::string> value(const std::string& sql, const std::string& what,
                            const std::vector<sql::Value>& params = {}) {
    auto r = rows(sql, what, params);
    if (!r) return r.refusal();
    if (r->empty() || r->front().empty() || !r->front()[0]) return std::string();
    return *r->front()[0];
  }

 private:
  PGconn* c_;
};

// The database holds nothing of anyone's: no table at all, or only
// jitgate's (created by a jitgated of this version), every one empty.
Status checkEmpty(PgTarget& pg, const std::string& schema) {
  auto rels = pg.rows(
      "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid=c.relnamespace "
      "WHERE c.relkind IN ('r','p','v','m','f') AND n.nspname NOT IN ('information_schema') AND "
      "n.nspname !~ '^pg_' ORDER BY 1, 2",
      "list the database's tables");
  if (!rels) return rels.refusal();
  std::set<std::string> ours(kPostgresOnly);
  for (const auto& t : tables()) ours.insert(t.table);
  std::vector<std::string> foreign, filled;
  for (const auto& r : *rels) {
    const std::string& nsp = *r[0];
    const std::string& rel = *r[1];
    if (nsp != schema || !ours.count(rel)) {
      foreign.push_back(nsp + "." + rel);
      continue;
    }
    if (rel == "jitgate_schema") continue;
    auto n = pg.value("SELECT count(*) FROM \"" + rel + "\"", "count " + rel);
    if (!n) return n.refusal();
    if (*n != "0") filled.push_back(rel + " (" + *n + " rows)");
  }
  auto listed = [](const std::vector<std::string>& v) {
    std::string out;
    for (size_t i = 0; i < v.size() && i < 5; ++i) out += (i ? ", " : "") + v[i];
    if (v.size() > 5) out += ", ...";
    return out;
  };
  if (!filled.empty())
    return Refusal{RefusalCode::Conflict, "--copy-store-to",
                   "the database already holds jitgate data: " + listed(filled) +
                       "; the copy goes only into an empty database"};
  if (!foreign.empty())
    return Refusal{RefusalCode::Conflict, "--copy-store-to",
                   "the database is not empty: it holds " + listed(foreign) +
                       "; the copy goes only into an empty database"};
  return okStatus();
}

// The database's tables after migrating are ours, each with our columns;
// answers each column's type, for the casts of the inserts.
Result<std::map<std::string, std::string>> checkPostgresSchema(PgTarget& pg,
                                                               const std::string& schema,
                                                               const TableSpec& t) {
  auto cols = pg.rows(
      "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema=? AND "
      "table_name=?",
      std::string("read the columns of ") + t.table, {schema, std::string(t.table)});
  if (!cols) return cols.refusal();
  std::map<std::string, std::string> types;
  for (const auto& r : *cols) types[*r[0]] = *r[1];
  std::set<std::string> want(t.columns.begin(), t.columns.end()), have;
  for (const auto& [name, type] : types) have.insert(name);
  if (have != want)
    return copyFailed(std::string("the PostgreSQL table ") + t.table +
                      " does not have the columns of the SQLite one");
  return types;
}

constexpr size_t kBatchRows = 200;

// Copies one table, folding the file's rows into `fromFile` as they go.
Status copyTable(SqliteFile& file, PgTarget& pg, const TableSpec& t,
                 const std::map<std::string, std::string>& types, RowDigest& fromFile) {
  std::string one = "(";
  for (size_t i = 0; i < t.columns.size(); ++i)
    one += std::string(i ? "," : "") + "?::" + types.at(t.columns[i]);
  one += ")";
  const std::string head =
      std::string("INSERT INTO \"") + t.table + "\" (" + columnList(t) + ") VALUES ";
  std::vector<sql::Value> params;
  size_t batched = 0;
  auto flush = [&]() -> Status {
    if (!batched) return okStatus();
    std::string text = head;
    for (size_t i = 0; i < batched; ++i) text += (i ? "," : "") + one;
    auto st = pg.exec(text, std::string("copy into ") + t.table, params);
    params.clear();
    batched = 0;
    return st;
  };
  auto st =
      file.each("SELECT " + columnList(t) + " FROM \"" + t.table + "\" ORDER BY \"" + t.key + "\"",
                [&](const Row& row) -> Status {
                  fromFile.add(row);
                  for (const auto& c : row) params.push_back(c ? sql::Value(*c) : sql::Value());
                  if (++batched == kBatchRows) return flush();
                  return okStatus();
                });
  if (!st) return st;
  return flush();
}

// The table read back from PostgreSQL, in the file's order (byte order for
// text keys, as SQLite's BINARY collation), folded the same way.
Result<std::pair<int64_t, std::string>> readBack(PgTarget& pg, const TableSpec& t) {
  std::string order = std::string("\"") + t.key + "\"" + (t.textKey ? " COLLATE \"C\"" : "");
  if (auto st = pg.exec("DECLARE jitgate_copy_check NO SCROLL CURSOR FOR SELECT " + columnList(t) +
                            " FROM \"" + t.table + "\" ORDER BY " + order,
                        std::string("read back ") + t.table);
      !st)
    return st.refusal();
  RowDigest digest;
  for (;;) {
    auto chunk = pg.rows("FETCH 2000 FROM jitgate_copy_check", std::string("read back ") + t.table);
    if (!chunk) return chunk.refusal();
    for (const auto& r : *chunk) digest.add(r);
    if (chunk->size() < 2000) break;
  }
  if (auto st = pg.exec("CLOSE jitgate_copy_check", "close the cursor"); !st) return st.refusal();
  return std::make_pair(digest.rows(), digest.finish());
}

std::string whoRuns() {
  if (const passwd* pw = ::getpwuid(::geteuid())) return pw->pw_name;
  return "uid " + std::to_string(::geteuid());
}

// Holds <state_dir>/jitgated.lock, the lock every jitgated takes on start.
Result<UniqueFd> lockStateDir(const std::string& stateDir) {
  std::string path = stateDir + "/jitgated.lock";
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd)
    return Refusal{RefusalCode::Unavailable, "state_dir",
                   "cannot open " + path + ": " + std::strerror(errno)};
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0)
    return Refusal{RefusalCode::Conflict, "state_dir",
                   stateDir + ": a jitgated is using it; stop it before copying its store"};
  return fd;
}

// The copy proper, inside the transaction on `pg`: schema, rows,
// sequences, the comparison, and the audit entry saying so.
Status copyAll(SqliteFile& file, PgTarget& pg, const std::string& sqlitePath,
               StoreCopyReport& report) {
  auto schema = pg.value("SELECT current_schema()", "read the current schema");
  if (!schema) return schema.refusal();
  if (schema->empty())
    return invalid("--copy-store-to",
                   "the connection has no schema to create tables in "
                   "(search_path is empty)");
  if (auto st = checkEmpty(pg, *schema); !st) return st;
  if (auto st = pg::migrateInTransaction(pg.conn()); !st) return st;
  report.schemaVersion = pg::latestSchemaVersion();
  std::set<std::string> ours(kPostgresOnly);
  for (const auto& t : tables()) ours.insert(t.table);
  auto present = pg.rows("SELECT table_name FROM information_schema.tables WHERE table_schema=?",
                         "list the schema's tables", {*schema});
  if (!present) return present.refusal();
  for (const auto& r : *present)
    if (!ours.count(*r[0]))
      return copyFailed("the PostgreSQL schema has a table this jitgated does not fill: " + *r[0]);

  std::vector<std::pair<int64_t, std::string>> fromFile;
  for (const auto& t : tables()) {
    auto types = checkPostgresSchema(pg, *schema, t);
    if (!types) return types.refusal();
    RowDigest digest;
    if (auto st = copyTable(file, pg, t, *types, digest); !st) return st;
    fromFile.emplace_back(digest.rows(), digest.finish());
  }

  // The serial columns go on after the highest number SQLite ever handed
  // out (sqlite_sequence: AUTOINCREMENT never reuses one), not from 1.
  for (const char* serial : {"audit:seq", "ca_keys:id"}) {
    std::string table(serial, std::strchr(serial, ':')), column(std::strchr(serial, ':') + 1);
    int64_t next = 1;
    auto used = file.strings("SELECT seq FROM sqlite_sequence WHERE name='" + table + "'");
    if (!used.empty()) next = std::max<int64_t>(next, std::stoll(used.front()) + 1);
    auto top = pg.value("SELECT COALESCE(MAX(\"" + column + "\"),0) FROM \"" + table + "\"",
                        "read the highest " + table + " " + column);
    if (!top) return top.refusal();
    next = std::max<int64_t>(next, std::stoll(*top) + 1);
    if (auto st =
            pg.exec("SELECT setval(pg_get_serial_sequence(?, ?), ?::bigint, false)",
                    "move the " + table + " sequence on", {table, column, std::to_string(next)});
        !st)
      return st;
  }

  // Nothing commits unless every table reads back as the file has it.
  for (size_t i = 0; i < tables().size(); ++i) {
    const auto& t = tables()[i];
    auto back = readBack(pg, t);
    if (!back) return back.refusal();
    if (back->first != fromFile[i].first)
      return copyFailed(std::string("verification: ") + t.table + " has " +
                        std::to_string(back->first) + " rows in PostgreSQL, " +
                        std::to_string(fromFile[i].first) + " in the file; nothing was committed");
    if (back->second != fromFile[i].second)
      return copyFailed(std::string("verification: ") + t.table +
                        " reads back differently from the file; nothing was committed");
    report.counts.push_back({t.table, back->first});
  }
  auto bounds = pg.rows("SELECT COALESCE(MIN(seq),0), COALESCE(MAX(seq),0) FROM audit",
                        "read the audit's bounds");
  if (!bounds) return bounds.refusal();
  report.auditFirstSeq = std::stoll(*bounds->front()[0]);
  report.auditLastSeq = std::stoll(*bounds->front()[1]);

  std::string detail = "copied from " + sqlitePath + ":";
  for (const auto& c : report.counts) detail += " " + c.kind + "=" + std::to_string(c.rows);
  auto nowMs = std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
  return pg.exec(
      "INSERT INTO audit(time_ms,actor,action,outcome,target,port,source,\"user\",grant_id,"
      "request_id,detail,node,session) VALUES(?,?,'store.copy','ok','',NULL,'','','','',?,'','')",
      "audit the copy", {nowMs, report.actor, detail});
}

}  // namespace

Result<StoreCopyReport> copyStateDirToPostgres(const std::string& stateDir,
                                               const std::string& url) {
  if (auto st = checkPostgresUrl(url, "--copy-store-to"); !st) return st.refusal();
  StoreCopyReport report;
  report.from = stateDir + "/jitgate.db";
  report.to = redactPostgresUrl(url);
  report.actor = whoRuns();
  struct stat st {};
  if (::stat(stateDir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return Refusal{RefusalCode::NotFound, "state_dir", stateDir + " is not a directory"};
  auto lock = lockStateDir(stateDir);
  if (!lock) return lock.refusal();
  if (::lstat(report.from.c_str(), &st) != 0 || !S_ISREG(st.st_mode))
    return Refusal{RefusalCode::NotFound, "state_dir",
                   "no SQLite store in " + stateDir + " (" + report.from + " is missing)"};
  // Brings an older file up to this version's schema first, as a start of
  // this jitgated would.
  {
    auto migrated = openSqliteStore(report.from);
    if (!migrated) return migrated.refusal();
  }
  SqliteFile file;
  if (auto s = file.open(report.from); !s) return s.refusal();
  if (auto s = checkSqliteSchema(file); !s) return s.refusal();

  auto conn = pg::connect(url);
  if (!conn) return conn.refusal();
  PgTarget pg(conn->get());
  // The migration lock keeps a jitgated starting on this database meanwhile
  // waiting (it then finds the schema current); the writer lock, taken in
  // the transaction, keeps any writer out.
  auto held = pg.value("SELECT pg_try_advisory_lock(" + std::to_string(pg::kMigrationLock) + ")",
                       "take the migration lock");
  if (!held) return held.refusal();
  if (*held != "t")
    return Refusal{RefusalCode::Conflict, "--copy-store-to",
                   "a jitgated is migrating this database: it is in use; the copy goes only "
                   "into an empty database"};
  if (auto s = pg.exec("BEGIN", "begin the copy"); !s) return s.refusal();
  auto copied = pg.exec("SELECT pg_advisory_xact_lock(" + std::to_string(pg::kWriterLock) + ")",
                        "take the writer lock");
  if (copied) copied = copyAll(file, pg, report.from, report);
  if (copied) copied = pg.exec("COMMIT", "commit the copy");
  if (!copied) {
    (void)pg.exec("ROLLBACK", "roll back the copy");
    return copied.refusal();
  }
  return report;
}

std::string describeStoreCopy(const StoreCopyReport& r) {
  std::string out = "copied " + r.from + " to " + r.to + " (PostgreSQL schema version " +
                    std::to_string(r.schemaVersion) + "), verified row by row:\n";
  int64_t total = 0;
  for (const auto& c : r.counts) {
    out += "  " + c.kind + std::string(c.kind.size() < 14 ? 14 - c.kind.size() : 1, ' ') +
           std::to_string(c.rows) + "\n";
    total += c.rows;
  }
  out += "  total         " + std::to_string(total) + " rows";
  if (r.auditLastSeq)
    out += "; audit seq " + std::to_string(r.auditFirstSeq) + ".." + std::to_string(r.auditLastSeq);
  out += "; store.copy audited by " + r.actor + "\n";
  return out;
}

}  // namespace jitgate
