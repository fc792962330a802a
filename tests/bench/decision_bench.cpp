// Grant decisions per second with 100, 10,000 and 100,000 active grants.
// The decision is a hash lookup plus a scan of the (user, target, port)
// bucket, so its cost should stay flat as grants grow.
//   build/tests/bench/decision_bench --benchmark_min_time=0.5
#include <benchmark/benchmark.h>

#include <boost/asio/io_context.hpp>
#include <map>
#include <memory>

#include "../support/test_support.hpp"
#include "jitgate/engine.hpp"

namespace jitgate {
namespace {

using namespace std::chrono_literals;

struct World {
  testing::TempDir dir;
  SystemClock clock;
  boost::asio::io_context io;
  std::unique_ptr<Store> store;
  std::unique_ptr<GrantEngine> engine;
  int users = 0;

  explicit World(int grants) : users(grants) {
    store = openSqliteStore(dir / "db").value();
    // Written straight into the store in one transaction, then loaded by
    // start() as after a restart: creating 100,000 grants one durable
    // commit at a time is a different benchmark (grant_create_bench).
    auto now = std::chrono::floor<Seconds>(clock.now());
    Target t;
    t.name = "vm1";
    t.address = "10.0.0.5";
    t.createdAt = now;
    (void)store->insertTarget(t);
    (void)store->transaction([&]() -> Status {
      for (int i = 0; i < grants; ++i) {
        Grant g;
        g.id = "g-" + std::to_string(i);
        g.user = "user" + std::to_string(i);
        g.target = "vm1";
        g.port = 22;
        g.source = Cidr::parse("10." + std::to_string(i % 256) + ".0.0/16").value();
        g.start = now;
        g.end = now + 3h;
        g.requestedBy = g.approvedBy = "bench";
        if (auto s = store->insertGrant(g); !s) return s;
      }
      return okStatus();
    });
    engine = std::make_unique<GrantEngine>(*store, clock, io);
    (void)engine->start();
  }
};

World& world(int grants) {
  static std::map<int, std::unique_ptr<World>> worlds;
  auto& w = worlds[grants];
  if (!w) w = std::make_unique<World>(grants);
  return *w;
}

void BM_DecideAllowed(benchmark::State& state) {
  auto& w = world(static_cast<int>(state.range(0)));
  if (w.engine->activeGrantCount() != static_cast<size_t>(state.range(0))) {
    state.SkipWithError("grants not loaded");
    return;
  }
  std::vector<std::string> users;
  for (int i = 0; i < 1024; ++i) users.push_back("user" + std::to_string((i * 7919) % w.users));
  std::vector<IpAddress> sources;
  for (int i = 0; i < 1024; ++i) {
    int u = (i * 7919) % w.users;
    sources.push_back(IpAddress::fromV4((10u << 24) | (uint32_t(u % 256) << 16) | 7));
  }
  auto now = w.engine->now();
  size_t i = 0, allowed = 0;
  for (auto _ : state) {
    auto d = w.engine->decide(users[i & 1023], "vm1", 22, sources[i & 1023], now);
    allowed += d.allowed;
    benchmark::DoNotOptimize(d);
    ++i;
  }
  if (allowed != i) state.SkipWithError("a decision that should allow denied");
  state.SetItemsProcessed(static_cast<int64_t>(i));
}
BENCHMARK(BM_DecideAllowed)->Arg(100)->Arg(10000)->Arg(100000);

void BM_DecideDeniedNoGrant(benchmark::State& state) {
  auto& w = world(static_cast<int>(state.range(0)));
  auto src = IpAddress::fromV4(0x0a000001);
  auto now = w.engine->now();
  for (auto _ : state) {
    auto d = w.engine->decide("mallory", "vm1", 22, src, now);
    benchmark::DoNotOptimize(d);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DecideDeniedNoGrant)->Arg(100)->Arg(10000)->Arg(100000);

}  // namespace
}  // namespace jitgate

BENCHMARK_MAIN();
