// libpq for the PostgreSQL store: connecting, statements, refusals, and the
// connection strings (checked, and shown without their passwords).
#include "pg_conn.hpp"

#include <spdlog/spdlog.h>

#include <regex>

#include "jitgate/store.hpp"

namespace jitgate {
namespace {

bool isUri(const std::string& url) {
  return url.rfind("postgresql://", 0) == 0 || url.rfind("postgres://", 0) == 0;
}

// The passwords written in `url`, to scrub them from anything that echoes it.
std::vector<std::string> secretsIn(const std::string& url) {
  std::vector<std::string> out;
  if (isUri(url)) {
    auto rest = url.substr(url.find("://") + 3);
    auto at = rest.find('@');
    auto slash = rest.find('/');
    if (at != std::string::npos && (slash == std::string::npos || at < slash)) {
      auto userinfo = rest.substr(0, at);
      if (auto colon = userinfo.find(':'); colon != std::string::npos)
        out.push_back(userinfo.substr(colon + 1));
    }
    static const std::regex param(R"((?:[?&])password=([^&]*))");
    for (std::sregex_iterator it(url.begin(), url.end(), param), end; it != end; ++it)
      out.push_back((*it)[1]);
  } else {
    static const std::regex kv(R"(password\s*=\s*('(?:[^'\\]|\\.)*'|[^\s]+))");
    for (std::sregex_iterator it(url.begin(), url.end(), kv), end; it != end; ++it) {
      std::string v = (*it)[1];
      if (v.size() >= 2 && v.front() == '\'') v = v.substr(1, v.size() - 2);
      out.push_back(v);
    }
  }
  std::erase_if(out, [](const std::string& s) { return s.empty(); });
  return out;
}

std::string scrub(std::string text, const std::vector<std::string>& secrets) {
  for (const auto& s : secrets) {
    for (auto pos = text.find(s); pos != std::string::npos; pos = text.find(s, pos + 3))
      text.replace(pos, s.size(), "***");
  }
  return text;
}

}  // namespace

std::string redactPostgresUrl(const std::string& url) { return scrub(url, secretsIn(url)); }

Status checkPostgresUrl(const std::string& url, const std::string& field) {
  if (!isUri(url) && url.find('=') == std::string::npos)
    return invalid(field,
                   "must be a postgresql:// URI or a libpq key=value connection string (SQLite "
                   "needs no url: it is the default, in the state directory)");
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(url.c_str(), &err);
  if (!opts) {
    std::string why = err ? err : "out of memory";
    PQfreemem(err);
    while (!why.empty() && why.back() == '\n') why.pop_back();
    return invalid(field,
                   "not a valid PostgreSQL connection string: " + scrub(why, secretsIn(url)));
  }
  PQconninfoFree(opts);
  return okStatus();
}

namespace pg {

Result<PgConnPtr> connect(const std::string& url) {
  // Ours first: what the url says about the same keys wins over them.
  const char* keys[] = {"connect_timeout",
                        "application_name",
                        "keepalives_idle",
                        "keepalives_interval",
                        "keepalives_count",
                        "dbname",
                        nullptr};
  const char* values[] = {"3", "jitgated", "10", "3", "3", url.c_str(), nullptr};
  PgConnPtr c(PQconnectdbParams(keys, values, /*expand_dbname=*/1));
  auto where = redactPostgresUrl(url);
  if (!c) return Refusal{RefusalCode::StoreUnavailable, "store", "out of memory connecting"};
  if (PQstatus(c.get()) != CONNECTION_OK) {
    std::string why = PQerrorMessage(c.get());
    while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
    return Refusal{RefusalCode::StoreUnavailable, "store",
                   "store_unavailable: PostgreSQL " + where + ": " + scrub(why, secretsIn(url))};
  }
  // Server notices (NOTICE: relation exists, ...) go to the debug log, not
  // to stderr.
  PQsetNoticeProcessor(
      c.get(), [](void*, const char* m) { spdlog::debug("postgresql: {}", m); }, nullptr);
  // A commit that returned is on the server's disk whatever the server's
  // default; no statement waits forever.
  PgResultPtr r(PQexec(c.get(),
                       "SET synchronous_commit TO on; SET statement_timeout TO '15s';"
                       "SET lock_timeout TO '15s'"));
  if (!succeeded(r.get())) return failure(c.get(), r.get(), "configure session");
  return c;
}

std::string numberPlaceholders(const std::string& sql) {
  std::string out;
  out.reserve(sql.size() + 16);
  int n = 0;
  for (char ch : sql) {
    if (ch == '?') {
      out += '$';
      out += std::to_string(++n);
    } else {
      out += ch;
    }
  }
  return out;
}

PgResultPtr execParams(PGconn* c, const std::string& sql, const std::vector<sql::Value>& params) {
  std::vector<std::string> text(params.size());
  std::vector<const char*> values(params.size(), nullptr);
  for (size_t i = 0; i < params.size(); ++i) {
    if (const auto* v = std::get_if<int64_t>(&params[i])) {
      text[i] = std::to_string(*v);
      values[i] = text[i].c_str();
    } else if (const auto* s = std::get_if<std::string>(&params[i])) {
      values[i] = s->c_str();
    }
  }
  return PgResultPtr(PQexecParams(c, numberPlaceholders(sql).c_str(),
                                  static_cast<int>(params.size()), nullptr, values.data(), nullptr,
                                  nullptr, 0));
}

bool succeeded(const PGresult* r) {
  if (!r) return false;
  auto st = PQresultStatus(r);
  return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
}

Refusal failure(PGconn* c, const PGresult* r, const std::string& what) {
  std::string why = r ? PQresultErrorMessage(r) : "";
  if (why.empty()) why = PQerrorMessage(c);
  while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
  if (!c || PQstatus(c) == CONNECTION_BAD)
    return Refusal{
        RefusalCode::StoreUnavailable, "store",
        "store_unavailable: " + what + ": the PostgreSQL connection is lost (" + why + ")"};
  const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  if (state && std::string_view(state).substr(0, 2) == "23")
    return Refusal{RefusalCode::AlreadyExists, "", "already exists"};
  // Shutting down, or refusing connections: the server is going away.
  if (state && (std::string_view(state).substr(0, 2) == "57" ||
                std::string_view(state).substr(0, 2) == "08"))
    return Refusal{RefusalCode::StoreUnavailable, "store",
                   "store_unavailable: " + what + ": " + why};
  return Refusal{RefusalCode::Unavailable, "", "store: " + what + ": " + why};
}

}  // namespace pg
}  // namespace jitgate
