// A real PostgreSQL 15 cluster for tests: initdb in a temporary directory as
// the unprivileged postgres user, listening on 127.0.0.1 at a picked free
// port with its Unix socket in that directory, stopped when it goes. One per
// test binary (shared()), or one of a test's own when the test stops it.
#pragma once

#include <arpa/inet.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>

#include "jitgate/store.hpp"
#include "process.hpp"
#include "test_support.hpp"

namespace jitgate::testing {

inline constexpr const char* kPgBin = "/usr/lib/postgresql/15/bin";

// A port nobody listens on now (the kernel's pick, released at once).
inline uint16_t pickFreePort() {
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (s < 0 || ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) != 0)
    throw std::runtime_error("cannot pick a free port");
  ::close(s);
  return ntohs(a.sin_port);
}

class PostgresCluster {
 public:
  // The password of the cluster's superuser over TCP (scram-sha-256), so
  // that tests pass one in their URLs and can look for it in logs.
  static constexpr const char* kPassword = "s3cret-Pw.42";

  PostgresCluster() : port_(pickFreePort()) {
    passwd* pw = ::getpwnam("postgres");
    if (!pw) throw std::runtime_error("no postgres user (apt-get install postgresql)");
    as_ = RunAs{pw->pw_uid, pw->pw_gid};
    if (::chown(dir_.path().c_str(), pw->pw_uid, pw->pw_gid) != 0)
      throw std::runtime_error("cannot chown the cluster directory");
    std::ofstream(dir_ / "pw") << kPassword << "\n";
    if (::chown((dir_ / "pw").c_str(), pw->pw_uid, pw->pw_gid) != 0)
      throw std::runtime_error("cannot chown the password file");
    auto r = run({std::string(kPgBin) + "/initdb", "-D", dir_ / "data", "-U", "postgres",
                  "--auth-local=trust", "--auth-host=scram-sha-256", "--pwfile=" + (dir_ / "pw"),
                  "--locale=C", "-E", "UTF8", "--no-sync"},
                 dir_.path(), as_);
    if (r.exitCode != 0) throw std::runtime_error("initdb failed: " + r.out + r.err);
    start();
  }
  ~PostgresCluster() { stop(); }
  PostgresCluster(const PostgresCluster&) = delete;
  PostgresCluster& operator=(const PostgresCluster&) = delete;

  // The binary's cluster, started on first use, stopped at exit.
  static PostgresCluster& shared() {
    static PostgresCluster cluster;
    return cluster;
  }

  void start() {
    std::string opts = "-c listen_addresses=127.0.0.1 -p " + std::to_string(port_) + " -k " +
                       dir_.path() + " -c max_connections=200";
    auto r = run({std::string(kPgBin) + "/pg_ctl", "-D", dir_ / "data", "-l", dir_ / "log", "-o",
                  opts, "-w", "-t", "60", "start"},
                 dir_.path(), as_);
    if (r.exitCode != 0)
      throw std::runtime_error("pg_ctl start failed: " + r.out + r.err + slurp(dir_ / "log"));
    running_ = true;
  }
  // `mode`: fast (clients disconnected, clean shutdown) or immediate (as a crash).
  void stop(const std::string& mode = "fast") {
    if (!running_) return;
    run({std::string(kPgBin) + "/pg_ctl", "-D", dir_ / "data", "-m", mode, "-w", "stop"},
        dir_.path(), as_);
    running_ = false;
  }

  uint16_t port() const { return port_; }
  std::string url(const std::string& db) const {
    return "postgresql://postgres:" + std::string(kPassword) +
           "@127.0.0.1:" + std::to_string(port_) + "/" + db;
  }
  std::string log() const { return slurp(dir_ / "log"); }

  // Runs `sql` as the superuser over the Unix socket; the first value of
  // the first row ("" when none). Throws on failure.
  std::string sql(const std::string& db, const std::string& text) const {
    std::string conninfo =
        "host=" + dir_.path() + " port=" + std::to_string(port_) + " user=postgres dbname=" + db;
    std::unique_ptr<PGconn, decltype(&PQfinish)> c(PQconnectdb(conninfo.c_str()), &PQfinish);
    if (PQstatus(c.get()) != CONNECTION_OK)
      throw std::runtime_error(std::string("connect: ") + PQerrorMessage(c.get()));
    std::unique_ptr<PGresult, decltype(&PQclear)> r(PQexec(c.get(), text.c_str()), &PQclear);
    auto st = PQresultStatus(r.get());
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
      throw std::runtime_error(text + ": " + PQresultErrorMessage(r.get()));
    if (st == PGRES_TUPLES_OK && PQntuples(r.get()) > 0 && PQnfields(r.get()) > 0)
      return PQgetvalue(r.get(), 0, 0);
    return "";
  }
  void createDatabase(const std::string& name) const {
    sql("postgres", "CREATE DATABASE \"" + name + "\"");
  }

 private:
  TempDir dir_;
  uint16_t port_;
  RunAs as_{0, 0};
  bool running_ = false;
};

// The store the policy tests run against: SQLite in `dir`, or with
// JITGATE_TEST_STORE=postgres a database of the binary's cluster named after
// `dir`, so that reopening it finds the same data.
inline bool testingPostgres() {
  const char* v = std::getenv("JITGATE_TEST_STORE");
  return v && std::string(v) == "postgres";
}

inline std::unique_ptr<Store> openTestStore(const TempDir& dir, const std::string& file = "db") {
  if (!testingPostgres()) {
    auto s = openSqliteStore(dir / file);
    if (!s) throw std::runtime_error(s.refusal().describe());
    return std::move(*s);
  }
  auto& cluster = PostgresCluster::shared();
  std::string name = dir.path().substr(dir.path().rfind('/') + 1) + "_" + file;
  std::replace(name.begin(), name.end(), '/', '_');
  if (cluster.sql("postgres", "SELECT count(*) FROM pg_database WHERE datname='" + name + "'") ==
      "0")
    cluster.createDatabase(name);
  auto s = openPostgresStore(cluster.url(name));
  if (!s) throw std::runtime_error(s.refusal().describe());
  return std::move(*s);
}

}  // namespace jitgate::testing
