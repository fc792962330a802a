// Grant creations per second through the control socket, each one a durable
// commit (grant + audit entry: SQLite WAL with synchronous=FULL, or
// PostgreSQL with synchronous_commit=on), against the real jitgated. One
// connection per grant, as jitctl does.
//   build/tests/bench/grant_create_bench [COUNT] [--postgres | --store URL]
// SQLite always; then, in the same run, PostgreSQL: a cluster of its own
// (--postgres: initdb, 127.0.0.1 on a picked port, stopped at the end; run
// as root) or the database URL names (--store, which must be empty).
#include <algorithm>
#include <boost/json.hpp>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "../support/postgres.hpp"
#include "../support/process.hpp"
#include "../support/test_support.hpp"
#include "jitgate/control_client.hpp"

namespace {

using namespace jitgate;

// Creates `count` grants through a jitgated started with `storeArgs`; prints
// one line; false when anything failed.
bool measure(const std::string& label, const std::vector<std::string>& storeArgs, int count) {
  using Clock = std::chrono::steady_clock;
  testing::TempDir dir;
  std::string sock = dir / "c.sock";
  std::vector<std::string> args{"--state-dir", dir / "state", "--control-socket", sock};
  args.insert(args.end(), storeArgs.begin(), storeArgs.end());
  testing::Daemon daemon(JITGATED_BIN, args, dir / "daemon.log");
  if (!daemon.waitReady()) {
    std::fprintf(stderr, "jitgated (%s) did not start:\n%s\n", label.c_str(), daemon.log().c_str());
    return false;
  }
  namespace http = boost::beast::http;
  auto must = [&](http::verb m, const std::string& target, const std::string& body) {
    auto r = callApi(sock, m, target, body);
    if (!r || r->status >= 300) {
      std::fprintf(stderr, "%s: %s failed: %s\n", label.c_str(), target.c_str(),
                   r ? r->body.c_str() : r.refusal().message.c_str());
      return false;
    }
    return true;
  };
  if (!must(http::verb::post, "/v1/targets",
            R"({"name":"vm1","address":"10.0.0.5","os":"linux"})") ||
      !must(http::verb::put, "/v1/targets/vm1/policy", "{}"))
    return false;

  std::vector<double> latencyMs;
  latencyMs.reserve(count);
  auto start = Clock::now();
  for (int i = 0; i < count; ++i) {
    std::string body = R"({"user":"user)" + std::to_string(i) +
                       R"(","target":"vm1","port":22,"source":"10.0.0.0/8","duration":"PT1H"})";
    auto t0 = Clock::now();
    if (!must(http::verb::post, "/v1/grants", body)) return false;
    latencyMs.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::sort(latencyMs.begin(), latencyMs.end());
  auto pct = [&](double p) { return latencyMs[static_cast<size_t>(p * (latencyMs.size() - 1))]; };
  std::printf(
      "grant_create %s: %d grants in %.2f s = %.0f grants/s; latency p50 %.2f ms, p99 %.2f ms, "
      "max %.2f ms\n",
      label.c_str(), count, seconds, count / seconds, pct(0.5), pct(0.99), latencyMs.back());
  std::fflush(stdout);
  auto status = callApi(sock, http::verb::get, "/v1/status", "");
  if (!status) return false;
  auto active = boost::json::parse(status->body).at("activeGrants").to_number<int64_t>();
  if (active != count) {
    std::fprintf(stderr, "%s: expected %d active grants, daemon has %lld\n", label.c_str(), count,
                 static_cast<long long>(active));
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  int count = 500;
  bool ownCluster = false;
  std::string url;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--postgres") {
      ownCluster = true;
    } else if (a == "--store" && i + 1 < argc) {
      url = argv[++i];
    } else if (!a.empty() && std::isdigit(static_cast<unsigned char>(a[0]))) {
      count = std::atoi(a.c_str());
    } else {
      count = 0;
    }
  }
  if (count <= 0 || count > 1000000 || (ownCluster && !url.empty())) {
    std::fprintf(stderr, "usage: grant_create_bench [COUNT] [--postgres | --store URL]\n");
    return 2;
  }
  if (!measure("sqlite", {}, count)) return 1;
  if (!ownCluster && url.empty()) return 0;
  std::unique_ptr<testing::PostgresCluster> cluster;
  if (ownCluster) {
    try {
      cluster = std::make_unique<testing::PostgresCluster>();
      cluster->createDatabase("bench");
    } catch (const std::exception& e) {
      std::fprintf(stderr, "cannot start PostgreSQL: %s\n", e.what());
      return 1;
    }
    url = cluster->url("bench");
    std::printf(
        "postgresql: own cluster (PostgreSQL 15, 127.0.0.1:%u, fsync on, "
        "synchronous_commit on)\n",
        cluster->port());
  }
  return measure("postgresql", {"--store", url}, count) ? 0 : 1;
}
