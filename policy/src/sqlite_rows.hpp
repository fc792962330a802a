// How the SQLite store's rows map to the model: the prepared-statement
// wrapper, the SELECT column lists and the row readers, and the JSON kept in
// some columns. Internal to the policy component (sqlite_store.cpp).
#pragma once

#include <sqlite3.h>

#include <boost/json.hpp>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "jitgate/handle.hpp"
#include "jitgate/store.hpp"

namespace jitgate::sqlite {

using SqliteDbPtr = CHandle<sqlite3, sqlite3_close_v2>;
using SqliteStmtPtr = CHandle<sqlite3_stmt, sqlite3_finalize>;

inline int64_t toEpoch(SysTime t) { return t.time_since_epoch().count(); }
inline SysTime fromEpoch(int64_t s) { return SysTime(Seconds(s)); }

inline Refusal dbError(sqlite3* db, const std::string& what) {
  return Refusal{RefusalCode::Unavailable, "",
                 "store: " + what + ": " + (db ? sqlite3_errmsg(db) : "no database")};
}

// A prepared statement with positional binds; text columns copied out.
class Stmt {
 public:
  Stmt(sqlite3* db, const std::string& sql) {
    sqlite3_stmt* s = nullptr;
    rc_ = sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr);
    stmt_.reset(s);
  }
  bool prepared() const { return rc_ == SQLITE_OK && stmt_; }

  Stmt& bind(int64_t v) {
    check(sqlite3_bind_int64(stmt_.get(), ++idx_, v));
    return *this;
  }
  Stmt& bind(const std::string& v) {
    check(sqlite3_bind_text(stmt_.get(), ++idx_, v.data(), static_cast<int>(v.size()),
                            SQLITE_TRANSIENT));
    return *this;
  }
  Stmt& bindNull() {
    check(sqlite3_bind_null(stmt_.get(), ++idx_));
    return *this;
  }
  template <class T>
  Stmt& bindOpt(const std::optional<T>& v) {
    if (!v) return bindNull();
    if constexpr (std::is_same_v<T, SysTime>) {
      return bind(toEpoch(*v));
    } else {
      return bind(static_cast<int64_t>(*v));
    }
  }

  // SQLITE_ROW -> true, SQLITE_DONE -> false; errors recorded.
  bool step() {
    if (!prepared() || bindFailed_) return false;
    int rc = sqlite3_step(stmt_.get());
    if (rc == SQLITE_ROW) return true;
    if (rc != SQLITE_DONE) rc_ = rc;
    return false;
  }
  bool failed() const { return !prepared() || bindFailed_ || (rc_ != SQLITE_OK); }
  int code() const { return rc_; }

  // Reads the row's columns, from the first, into `fields` by their types.
  template <class... Fields>
  void columns(Fields&... fields) const {
    int col = 0;
    (column(col++, fields), ...);
  }

  int64_t i64(int col) const { return sqlite3_column_int64(stmt_.get(), col); }
  bool isNull(int col) const { return sqlite3_column_type(stmt_.get(), col) == SQLITE_NULL; }
  std::string text(int col) const {
    auto p = sqlite3_column_text(stmt_.get(), col);
    int n = sqlite3_column_bytes(stmt_.get(), col);
    return p ? std::string(reinterpret_cast<const char*>(p), n) : std::string();
  }

 private:
  void column(int col, std::string& v) const { v = text(col); }
  void column(int col, int64_t& v) const { v = i64(col); }
  void column(int col, uint16_t& v) const { v = static_cast<uint16_t>(i64(col)); }
  void column(int col, bool& v) const { v = i64(col) != 0; }
  void column(int col, SysTime& v) const { v = fromEpoch(i64(col)); }
  template <class T>
  void column(int col, std::optional<T>& v) const {
    if (isNull(col)) return v.reset();
    T t{};
    column(col, t);
    v = t;
  }
  void check(int rc) {
    if (rc != SQLITE_OK) bindFailed_ = true;
  }
  SqliteStmtPtr stmt_;
  int rc_ = SQLITE_OK;
  int idx_ = 0;
  bool bindFailed_ = false;
};

// The columns each reader expects, in its order.
extern const std::string kTargetSelect;
extern const std::string kPolicySelect;
extern const std::string kGrantSelect;
extern const std::string kRequestSelect;
extern const std::string kAuditSelect;

Target readTarget(const Stmt& s);
Result<Policy> readPolicy(const Stmt& s);
Result<Grant> readGrant(const Stmt& s);
Result<AccessRequest> readRequest(const Stmt& s);
User readUser(const Stmt& s);
AuditEntry readAudit(const Stmt& s);

// The JSON columns: policies.rules, requests.ports, requests.grant_ids and
// users.keys. A column that no longer parses is a refusal (the file was
// altered), never a guess.
boost::json::array rulesToJson(const std::vector<PortRule>& rules);
boost::json::array portsToJson(const std::vector<RequestedPort>& ports);
std::string stringsToJson(const std::vector<std::string>& v);
std::string keysToJson(const std::vector<SshPublicKey>& keys);

}  // namespace jitgate::sqlite
