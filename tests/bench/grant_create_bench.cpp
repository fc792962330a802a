// Grant creations per second through the control socket, each one a durable
// commit (grant + audit entry, SQLite WAL, synchronous=FULL), against the
// real jitgated. One connection per grant, as jitctl does.
//   build/tests/bench/grant_create_bench [COUNT]
#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "../support/process.hpp"
#include "../support/test_support.hpp"
#include "jitgate/control_client.hpp"

int main(int argc, char** argv) {
  using namespace jitgate;
  using Clock = std::chrono::steady_clock;
  int count = argc > 1 ? std::atoi(argv[1]) : 500;
  if (count <= 0 || count > 1000000) {
    std::fprintf(stderr, "usage: grant_create_bench [COUNT]\n");
    return 2;
  }
  testing::TempDir dir;
  std::string sock = dir / "c.sock";
  testing::Daemon daemon(JITGATED_BIN, {"--state-dir", dir / "state", "--control-socket", sock},
                         dir / "daemon.log");
  if (!daemon.waitReady()) {
    std::fprintf(stderr, "jitgated did not start:\n%s\n", daemon.log().c_str());
    return 1;
  }
  namespace http = boost::beast::http;
  auto must = [&](http::verb m, const std::string& target, const std::string& body) {
    auto r = callApi(sock, m, target, body);
    if (!r || r->status >= 300) {
      std::fprintf(stderr, "%s failed: %s\n", target.c_str(),
                   r ? r->body.c_str() : r.refusal().message.c_str());
      std::exit(1);
    }
  };
  must(http::verb::post, "/v1/targets", R"({"name":"vm1","address":"10.0.0.5","os":"linux"})");
  must(http::verb::put, "/v1/targets/vm1/policy", "{}");

  std::vector<double> latencyMs;
  latencyMs.reserve(count);
  auto start = Clock::now();
  for (int i = 0; i < count; ++i) {
    std::string body = R"({"user":"user)" + std::to_string(i) +
                       R"(","target":"vm1","port":22,"source":"10.0.0.0/8","duration":"PT1H"})";
    auto t0 = Clock::now();
    must(http::verb::post, "/v1/grants", body);
    latencyMs.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::sort(latencyMs.begin(), latencyMs.end());
  auto pct = [&](double p) { return latencyMs[static_cast<size_t>(p * (latencyMs.size() - 1))]; };
  std::printf(
      "grant_create: %d grants in %.2f s = %.0f grants/s; latency p50 %.2f ms, p99 %.2f ms, "
      "max %.2f ms\n",
      count, seconds, count / seconds, pct(0.5), pct(0.99), latencyMs.back());
  auto status = callApi(sock, http::verb::get, "/v1/status", "");
  if (!status) return 1;
  auto active = boost::json::parse(status->body).at("activeGrants").to_number<int64_t>();
  if (active != count) {
    std::fprintf(stderr, "expected %d active grants, daemon has %lld\n", count,
                 static_cast<long long>(active));
    return 1;
  }
  return 0;
}
