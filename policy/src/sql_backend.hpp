// The SQL engine under the store: a statement with positional parameters, a
// result row, and a backend (SQLite, PostgreSQL) that runs them. sql_store.cpp
// writes the Store once over any backend. Internal to the policy component.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include "jitgate/model.hpp"
#include "jitgate/result.hpp"

namespace jitgate::sql {

inline int64_t toEpoch(SysTime t) { return t.time_since_epoch().count(); }
inline SysTime fromEpoch(int64_t s) { return SysTime(Seconds(s)); }

// A parameter: NULL, an integer or text.
using Value = std::variant<std::monostate, int64_t, std::string>;

// One statement. Placeholders are `?`, in order (a backend that numbers
// them, as PostgreSQL does, rewrites them). Identifiers that are keywords in
// one dialect ("user") are written double-quoted.
struct Query {
  explicit Query(std::string text) : sql(std::move(text)) {}
  Query& bind(int64_t v) {
    params.emplace_back(v);
    return *this;
  }
  Query& bind(const std::string& v) {
    params.emplace_back(v);
    return *this;
  }
  Query& bindNull() {
    params.emplace_back(std::monostate{});
    return *this;
  }
  template <class T>
  Query& bindOpt(const std::optional<T>& v) {
    if (!v) return bindNull();
    if constexpr (std::is_same_v<T, SysTime>) {
      return bind(toEpoch(*v));
    } else {
      return bind(static_cast<int64_t>(*v));
    }
  }

  std::string sql;
  std::vector<Value> params;
};

// A row of a result, read by column index from 0.
class SqlRow {
 public:
  virtual ~SqlRow() = default;
  virtual bool isNull(int col) const = 0;
  virtual int64_t i64(int col) const = 0;
  virtual std::string text(int col) const = 0;

  // Reads the row's columns, from the first, into `fields` by their types.
  template <class... Fields>
  void columns(Fields&... fields) const {
    int col = 0;
    (column(col++, fields), ...);
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
};

// Called for each row; a refusal stops the statement and is passed through.
using RowFn = std::function<Status(const SqlRow&)>;

class SqlBackend {
 public:
  virtual ~SqlBackend() = default;

  // Runs `q`, calling `onRow` for each row it returns; answers the number of
  // rows a write changed. A constraint violation is AlreadyExists; any other
  // failure names `what`.
  virtual Result<int64_t> run(const Query& q, const std::string& what, const RowFn& onRow = {}) = 0;

  // A write transaction: one writer at a time over the whole store (SQLite's
  // BEGIN IMMEDIATE, an advisory lock on PostgreSQL), so that changes commit
  // in the order of their sequence numbers.
  virtual Status begin() = 0;
  // Returns only once the commit is durable.
  virtual Status commit() = 0;
  virtual void rollback() = 0;

  // Inside a transaction: records that an object changed, for the other
  // nodes sharing this store. A single-node backend records nothing.
  virtual Status changed(std::string_view kind, const std::string& key) = 0;
};

}  // namespace jitgate::sql
