// Two nodes' engines on one PostgreSQL database, each with its follower: a
// grant, a revoke or a target change on one reaches the other through the
// change log; an expiry is recorded once; with the server stopped, new
// connections are refused (store_unavailable), live sessions are told after
// the grace, refusals are held for the audit, and all resumes when it is back.
#include "jitgate/follower.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include "../support/postgres.hpp"
#include "../support/test_support.hpp"

namespace jitgate {
namespace {

using namespace std::chrono_literals;
using testing::PostgresCluster;

IpAddress ip(const char* s) { return IpAddress::parse(s).value(); }

class FollowerTest : public ::testing::Test {
 protected:
  struct Node {
    std::unique_ptr<Store> store;
    std::unique_ptr<GrantEngine> engine;
    std::unique_ptr<StoreFollower> follower;
    std::vector<GrantEnded> ended;
    ~Node() {
      follower.reset();
      engine.reset();
    }
  };

  std::unique_ptr<Node> node(const std::string& url, std::chrono::seconds grace = 60s) {
    auto n = std::make_unique<Node>();
    n->store = openPostgresStore(url).value();
    n->engine = std::make_unique<GrantEngine>(*n->store, clock_, io_);
    n->follower =
        std::make_unique<StoreFollower>(io_, *n->store, *n->engine, FollowerOptions{100ms, grace});
    EXPECT_TRUE(n->follower->start().ok());
    EXPECT_TRUE(n->engine->start().ok());
    Node* raw = n.get();
    n->engine->subscribe([raw](const GrantEnded& e) { raw->ended.push_back(e); });
    return n;
  }

  // Runs the nodes' event loop until `f` holds, for at most `limit` (a
  // bound, not a goal).
  template <class F>
  bool runUntil(F f, std::chrono::milliseconds limit = 15s) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!f()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      io_.restart();
      io_.run_for(20ms);
    }
    return true;
  }

  void enroll(GrantEngine& e) {
    Target t;
    t.name = "vm1";
    t.address = "10.0.0.5";
    ASSERT_TRUE(e.addTarget("admin", t).ok());
    Policy p;
    p.target = "vm1";
    ASSERT_TRUE(e.setPolicy("admin", p).ok());
  }
  Grant grant(GrantEngine& e, Seconds length = 1h) {
    GrantInput in;
    in.user = "alice";
    in.target = "vm1";
    in.port.number = 22;
    in.port.source = Cidr::parse("10.1.0.0/16").value();
    in.port.duration = length;
    auto g = e.grant("admin", in);
    EXPECT_TRUE(g.ok()) << g.refusal().describe();
    return g.ok() ? *g : Grant{};
  }
  static bool endedWith(const Node& n, const std::string& id, WindowEnd why) {
    for (const auto& e : n.ended)
      if (e.grant.id == id && e.why == why) return true;
    return false;
  }

  std::string database(PostgresCluster& c) {
    static int n = 0;
    std::string name = "follow_" + std::to_string(::getpid()) + "_" + std::to_string(++n);
    c.createDatabase(name);
    return c.url(name);
  }

  testing::FakeClock clock_{testing::at("2026-11-23T12:00:00Z")};
  boost::asio::io_context io_;
};

TEST_F(FollowerTest, GrantsRevokesAndTargetsReachTheOtherNode) {
  auto url = database(PostgresCluster::shared());
  auto a = node(url);
  auto b = node(url);
  enroll(*a->engine);
  ASSERT_TRUE(runUntil([&] { return b->engine->findTarget("vm1").has_value(); }));
  auto g = grant(*a->engine);
  ASSERT_TRUE(
      runUntil([&] { return b->engine->decide("alice", "vm1", 22, ip("10.1.2.3")).allowed; }));
  EXPECT_EQ(b->engine->decide("alice", "vm1", 22, ip("10.1.2.3")).grantId, g.id);

  ASSERT_TRUE(a->engine->revoke("bob", g.id).ok());
  ASSERT_TRUE(runUntil([&] { return endedWith(*b, g.id, WindowEnd::Revoked); }));
  EXPECT_FALSE(b->engine->decide("alice", "vm1", 22, ip("10.1.2.3")).allowed);
  EXPECT_EQ(b->engine->activeGrantCount(), 0u);
  EXPECT_GE(b->follower->appliedSeq(), a->store->lastChange().value());

  ASSERT_TRUE(a->engine->removeTarget("admin", "vm1").ok());
  ASSERT_TRUE(runUntil([&] { return !b->engine->findTarget("vm1").has_value(); }));
  EXPECT_EQ(b->engine->decide("alice", "vm1", 22, ip("10.1.2.3")).reason,
            SessionRefusal::UnknownTarget);
}

TEST_F(FollowerTest, AnExpiryIsRecordedOnceAndEndsSessionsOnEveryNode) {
  auto url = database(PostgresCluster::shared());
  auto a = node(url);
  auto b = node(url);
  enroll(*a->engine);
  auto g = grant(*a->engine, 10min);
  ASSERT_TRUE(runUntil([&] { return b->engine->activeGrantCount() == 1; }));
  clock_.advance(11min);
  // Each node ends its own sessions on its own timer.
  a->engine->expireDue();
  b->engine->expireDue();
  EXPECT_TRUE(endedWith(*a, g.id, WindowEnd::Expired));
  EXPECT_TRUE(endedWith(*b, g.id, WindowEnd::Expired));
  int expiries = 0;
  for (const auto& e : a->store->audit({}).value())
    if (e.action == "grant.expire" && e.grantId == g.id) ++expiries;
  EXPECT_EQ(expiries, 1);
  EXPECT_EQ(a->store->grant(g.id).value()->state, GrantState::Expired);
}

TEST_F(FollowerTest, AnUnreachableStoreRefusesThenCutsAfterTheGraceAndRecovers) {
  PostgresCluster c;
  auto url = database(c);
  auto a = node(url);
  enroll(*a->engine);
  auto g = grant(*a->engine);
  auto b = node(url, 1s);
  ASSERT_TRUE(b->engine->decide("alice", "vm1", 22, ip("10.1.2.3")).allowed);

  c.stop();
  ASSERT_TRUE(runUntil([&] { return !b->engine->storeReachable(); }));
  auto d = b->engine->decide("alice", "vm1", 22, ip("10.1.2.3"));
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason, SessionRefusal::StoreUnavailable);
  EXPECT_NE(d.message.find("store_unavailable"), std::string::npos) << d.message;
  // New grants are refused with the reason.
  GrantInput in;
  in.user = "carol";
  in.target = "vm1";
  in.port.number = 22;
  in.port.source = Cidr::parse("10.1.0.0/16").value();
  in.port.duration = 1h;
  auto refused = b->engine->grant("admin", in);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.refusal().code, RefusalCode::StoreUnavailable);
  // The refusal's audit entry is held, not lost.
  AuditEntry e;
  e.actor = "carol";
  e.action = "session.refused";
  e.outcome = "denied";
  e.detail = "front=ssh reason=store_unavailable";
  EXPECT_FALSE(b->engine->record(e).ok());
  EXPECT_EQ(b->engine->heldAuditCount(), 1u);
  // Live sessions keep going for the grace, then are told.
  EXPECT_FALSE(endedWith(*b, g.id, WindowEnd::StoreUnavailable));
  ASSERT_TRUE(runUntil([&] { return endedWith(*b, g.id, WindowEnd::StoreUnavailable); }));

  c.start();
  ASSERT_TRUE(
      runUntil([&] { return b->engine->decide("alice", "vm1", 22, ip("10.1.2.3")).allowed; }));
  ASSERT_TRUE(runUntil([&] { return b->engine->heldAuditCount() == 0; }));
  bool written = false;
  for (const auto& entry : b->store->audit({}).value())
    written = written || (entry.action == "session.refused" && entry.actor == "carol");
  EXPECT_TRUE(written);
  // The grant was never ended in the store: the outage cut sessions only.
  EXPECT_EQ(b->store->grant(g.id).value()->state, GrantState::Active);
}

}  // namespace
}  // namespace jitgate
