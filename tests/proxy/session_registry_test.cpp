// The registry that brings the end of a grant to the sessions under it, and
// the audit records the fronts write.
#include "jitgate/proxy/session_registry.hpp"

#include <gtest/gtest.h>

#include "../support/test_support.hpp"
#include "jitgate/store.hpp"

namespace jitgate {
namespace {

class SessionRegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = openSqliteStore(dir_ / "db").value();
    engine_ = std::make_unique<GrantEngine>(*store_, clock_, io_);
    ASSERT_TRUE(engine_->start().ok());
    Target t;
    t.name = "vm1";
    t.address = "10.0.0.5";
    ASSERT_TRUE(engine_->addTarget("admin", t).ok());
    Policy p;
    p.target = "vm1";
    ASSERT_TRUE(engine_->setPolicy("admin", p).ok());
  }
  std::string grant(Seconds length) {
    GrantInput in;
    in.user = "alice";
    in.target = "vm1";
    in.port.number = 22;
    in.port.source = Cidr::parse("10.1.0.0/16").value();
    in.port.duration = length;
    auto g = engine_->grant("admin", in);
    EXPECT_TRUE(g.ok()) << g.refusal().describe();
    return g->id;
  }

  testing::TempDir dir_;
  testing::FakeClock clock_{testing::at("2026-11-23T12:00:00Z")};
  boost::asio::io_context io_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<GrantEngine> engine_;
};

TEST_F(SessionRegistryTest, RevokeReachesEverySessionUnderTheGrantAndNoOther) {
  SessionRegistry reg(*engine_);
  auto g1 = grant(Seconds(600));
  auto g2 = grant(Seconds(900));
  std::vector<std::pair<int, WindowEnd>> calls;
  reg.add(g1, [&](const GrantEnded& e) { calls.push_back({1, e.why}); });
  reg.add(g1, [&](const GrantEnded& e) { calls.push_back({2, e.why}); });
  reg.add(g2, [&](const GrantEnded& e) { calls.push_back({3, e.why}); });
  EXPECT_EQ(reg.sessionsUnder(g1), 2u);
  ASSERT_TRUE(engine_->revoke("admin", g1).ok());
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].second, WindowEnd::Revoked);
  EXPECT_EQ(calls[1].second, WindowEnd::Revoked);
  clock_.advance(Seconds(900));
  engine_->expireDue();
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_EQ(calls[2], std::make_pair(3, WindowEnd::Expired));
}

TEST_F(SessionRegistryTest, RebindAndRemove) {
  SessionRegistry reg(*engine_);
  auto g1 = grant(Seconds(600));
  auto g2 = grant(Seconds(900));
  int called = 0;
  auto id = reg.add(g1, [&](const GrantEnded&) { ++called; });
  reg.rebind(id, g2);
  EXPECT_EQ(reg.sessionsUnder(g1), 0u);
  EXPECT_EQ(reg.sessionsUnder(g2), 1u);
  ASSERT_TRUE(engine_->revoke("admin", g1).ok());
  EXPECT_EQ(called, 0);
  reg.remove(id);
  EXPECT_EQ(reg.size(), 0u);
  ASSERT_TRUE(engine_->revoke("admin", g2).ok());
  EXPECT_EQ(called, 0);
}

TEST_F(SessionRegistryTest, ACallbackMayRemoveItselfAndOthers) {
  SessionRegistry reg(*engine_);
  auto g = grant(Seconds(600));
  SessionRegistry::Id a = 0, b = 0;
  int called = 0;
  a = reg.add(g, [&](const GrantEnded&) {
    ++called;
    reg.remove(a);
    reg.remove(b);
  });
  b = reg.add(g, [&](const GrantEnded&) {
    ++called;
    reg.remove(a);
    reg.remove(b);
  });
  ASSERT_TRUE(engine_->revoke("admin", g).ok());
  EXPECT_EQ(called, 1);
  EXPECT_EQ(reg.size(), 0u);
}

TEST(SessionRecords, ConnectDisconnectAndRefusalEntries) {
  SessionRecord s;
  s.front = "ssh";
  s.user = "alice";
  s.target = "vm1";
  s.port = 22;
  s.source = "10.1.2.3";
  s.grantId = "g-1";
  s.bytesToTarget = 10;
  s.bytesFromTarget = 20;
  auto c = connectEntry(s);
  EXPECT_EQ(c.action, "session.connect");
  EXPECT_EQ(c.user, "alice");
  EXPECT_EQ(c.grantId, "g-1");
  EXPECT_EQ(c.port, 22);
  auto d = disconnectEntry(s, EndReason::Revoked);
  EXPECT_EQ(d.action, "session.disconnect");
  EXPECT_EQ(d.outcome, "ok");
  EXPECT_NE(d.detail.find("reason=revoked bytes_to_target=10 bytes_from_target=20 duration="),
            std::string::npos)
      << d.detail;
  EXPECT_EQ(disconnectEntry(s, EndReason::Error).outcome, "error");
  auto r = refusalEntry("ssh", "alice", "vm1", 22, "10.1.2.3", SessionRefusal::NoGrant, "no grant");
  EXPECT_EQ(r.action, "session.refused");
  EXPECT_EQ(r.outcome, "denied");
  EXPECT_EQ(r.detail, "front=ssh reason=no_grant: no grant");
  EXPECT_EQ(endMessage("vm1", testing::at("2026-11-23T12:00:00Z"), EndReason::Expired),
            "jitgate: access to vm1 ended at 2026-11-23T12:00:00Z (window expired)");
  EXPECT_EQ(endMessage("vm1", testing::at("2026-11-23T12:00:00Z"), EndReason::Revoked),
            "jitgate: access to vm1 ended at 2026-11-23T12:00:00Z (grant revoked)");
}

TEST_F(SessionRegistryTest, LiveSessionsAreListedByIdAndKilledWithANote) {
  SessionRegistry reg(*engine_);
  auto g = grant(Seconds(600));
  SessionRecord a, b;
  a.front = "ssh";
  a.user = "alice";
  a.target = "vm1";
  a.grantId = g;
  b = a;
  b.front = "ssh-forward";
  std::vector<std::string> notes;
  auto idA = reg.add(
      g, [](const GrantEnded&) {}, &a, [&](const std::string& n) { notes.push_back("a " + n); });
  reg.add(
      g, [](const GrantEnded&) {}, &b, [&](const std::string& n) { notes.push_back("b " + n); });
  reg.add(g, [](const GrantEnded&) {});  // no record: not listed
  ASSERT_EQ(a.id.size(), 18u);
  EXPECT_EQ(a.id.rfind("s-", 0), 0u);
  EXPECT_NE(a.id, b.id);
  a.bytesToTarget = 42;  // the list reads the live record
  auto live = reg.list();
  ASSERT_EQ(live.size(), 2u);
  for (const auto& s : live) {
    if (s.id == a.id) {
      EXPECT_EQ(s.bytesToTarget, 42u);
    }
  }
  auto k = reg.kill(b.id, "root", "maintenance");
  ASSERT_TRUE(k.ok());
  EXPECT_EQ(k->front, "ssh-forward");
  EXPECT_EQ(notes, (std::vector<std::string>{"b by root: maintenance"}));
  EXPECT_EQ(reg.kill("s-0000000000000000", "root", "").refusal().code, RefusalCode::NotFound);
  reg.remove(idA);
  EXPECT_EQ(reg.kill(a.id, "root", "").refusal().code, RefusalCode::NotFound);
  // What the user and the audit log are told.
  b.endNote = "by root: maintenance";
  EXPECT_NE(endMessage("vm1", testing::at("2026-11-23T12:05:00Z"), EndReason::Killed, b.endNote)
                .find("(session ended by root: maintenance)"),
            std::string::npos);
  auto d = disconnectEntry(b, EndReason::Killed);
  EXPECT_NE(d.detail.find("reason=killed"), std::string::npos) << d.detail;
  EXPECT_NE(d.detail.find("session=" + b.id + " by root: maintenance"), std::string::npos)
      << d.detail;
}

}  // namespace
}  // namespace jitgate
