// The grant binding both fronts hold a live session by: revokes and expiries
// from the engine, the timer at the grant's exact end on the engine's clock,
// the warning, the move to another covering grant, and unbinding.
#include "grant_binding.hpp"

#include <gtest/gtest.h>

#include <optional>

#include "../support/test_support.hpp"
#include "jitgate/store.hpp"

namespace jitgate {
namespace {

using namespace std::chrono_literals;

class GrantBindingTest : public ::testing::Test {
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
    registry_ = std::make_unique<SessionRegistry>(*engine_);
  }
  Grant grant(Seconds length) {
    GrantInput in;
    in.user = "alice";
    in.target = "vm1";
    in.port.number = 22;
    in.port.source = Cidr::parse("10.1.0.0/16").value();
    in.port.duration = length;
    auto g = engine_->grant("admin", in);
    EXPECT_TRUE(g.ok()) << g.refusal().describe();
    return g.value();
  }
  Decision decide() { return engine_->decide("alice", "vm1", 22, source_); }
  SessionRecord record() {
    SessionRecord r;
    r.front = "ssh";
    r.user = "alice";
    r.target = "vm1";
    r.port = 22;
    r.source = source_.toString();
    return r;
  }
  GrantBinding::Events events() {
    GrantBinding::Events e;
    e.warn = [this](SysTime end) { warned_ = end; };
    e.ended = [this](EndReason why, SysTime at) { ended_ = std::make_pair(why, at); };
    return e;
  }
  // The engine's clock at a sub-second instant.
  void setClock(std::chrono::system_clock::time_point t) {
    auto whole = std::chrono::floor<Seconds>(t);
    clock_.set(whole);
    clock_.advance(t - whole);
  }
  // Runs the loop until one handler ran, at most five seconds (never hangs).
  void runOne() { io_.run_one_for(5s); }

  testing::TempDir dir_;
  testing::FakeClock clock_{testing::at("2026-11-23T12:00:00Z")};
  boost::asio::io_context io_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<GrantEngine> engine_;
  std::unique_ptr<SessionRegistry> registry_;
  IpAddress source_ = IpAddress::parse("10.1.2.3").value();
  std::optional<SysTime> warned_;
  std::optional<std::pair<EndReason, SysTime>> ended_;
};

TEST_F(GrantBindingTest, ARevokeEndsTheSessionWhenNoOtherGrantCoversIt) {
  auto g = grant(600s);
  GrantBinding b(io_, *engine_, *registry_);
  b.bind(record(), source_, decide(), 0s, events());
  EXPECT_TRUE(b.active());
  EXPECT_EQ(b.grantId(), g.id);
  EXPECT_EQ(b.record().grantId, g.id);
  EXPECT_EQ(registry_->sessionsUnder(g.id), 1u);
  clock_.advance(90s);
  ASSERT_TRUE(engine_->revoke("admin", g.id).ok());
  ASSERT_TRUE(ended_);
  EXPECT_EQ(ended_->first, EndReason::Revoked);
  EXPECT_EQ(ended_->second, testing::at("2026-11-23T12:01:30Z"));
  b.unbind();
  EXPECT_FALSE(b.active());
  EXPECT_EQ(registry_->size(), 0u);
}

TEST_F(GrantBindingTest, ARevokedGrantHandsTheSessionToAnotherThatCoversIt) {
  auto g1 = grant(600s);
  GrantBinding b(io_, *engine_, *registry_);
  b.bind(record(), source_, decide(), 0s, events());
  auto g2 = grant(900s);
  ASSERT_TRUE(engine_->revoke("admin", g1.id).ok());
  EXPECT_FALSE(ended_);
  EXPECT_EQ(b.grantId(), g2.id);
  EXPECT_EQ(b.record().grantId, g2.id);
  EXPECT_EQ(b.end(), g2.end);
  EXPECT_EQ(registry_->sessionsUnder(g1.id), 0u);
  EXPECT_EQ(registry_->sessionsUnder(g2.id), 1u);
  ASSERT_TRUE(engine_->revoke("admin", g2.id).ok());
  ASSERT_TRUE(ended_);
  EXPECT_EQ(ended_->first, EndReason::Revoked);
}

TEST_F(GrantBindingTest, AnExpiryTheEngineAnnouncesEndsTheSessionAtTheGrantsEnd) {
  auto g = grant(600s);
  GrantBinding b(io_, *engine_, *registry_);
  b.bind(record(), source_, decide(), 0s, events());
  clock_.advance(601s);
  engine_->expireDue();
  ASSERT_TRUE(ended_);
  EXPECT_EQ(ended_->first, EndReason::Expired);
  EXPECT_EQ(ended_->second, g.end);  // not when the notice came
}

// The engine's clock 50 ms before the end: the timer is due in 50 ms, not at
// the next whole second (the clock is not rounded).
TEST_F(GrantBindingTest, TheTimerIsDueAtTheGrantsExactEndOnTheEnginesClock) {
  auto g = grant(600s);
  setClock(g.end - 50ms);
  GrantBinding b(io_, *engine_, *registry_);
  auto before = std::chrono::steady_clock::now();
  b.bind(record(), source_, decide(), 0s, events());
  auto after = std::chrono::steady_clock::now();
  EXPECT_GE(b.deadline(), before + 50ms);
  EXPECT_LE(b.deadline(), after + 50ms);
  // When it fires the engine is asked again: at the end, nothing covers.
  clock_.set(g.end);
  runOne();
  ASSERT_TRUE(ended_);
  EXPECT_EQ(ended_->first, EndReason::Expired);
  EXPECT_EQ(ended_->second, g.end);
}

TEST_F(GrantBindingTest, MoveToFollowsTheGrantOfANewDecision) {
  auto g1 = grant(600s);
  GrantBinding b(io_, *engine_, *registry_);
  b.bind(record(), source_, decide(), 0s, events());
  setClock(g1.end - 10ms);
  auto g2 = grant(900s);  // from the new now: ends later than g1
  b.moveTo(engine_->decide("alice", "vm1", 22, source_, g1.end - 1s));
  EXPECT_EQ(b.grantId(), g2.id);
  EXPECT_EQ(registry_->sessionsUnder(g2.id), 1u);
  // g1's end passes; the binding, now under g2, is not ended by it.
  clock_.set(g1.end);
  engine_->expireDue();
  EXPECT_FALSE(ended_);
  EXPECT_EQ(b.end(), g2.end);
}

TEST_F(GrantBindingTest, TheWarningComesWarnBeforeAheadOfTheEnd) {
  auto g = grant(600s);
  setClock(g.end - 300s - 20ms);
  GrantBinding b(io_, *engine_, *registry_);
  b.bind(record(), source_, decide(), 300s, events());
  runOne();
  ASSERT_TRUE(warned_);
  EXPECT_EQ(*warned_, g.end);
  EXPECT_FALSE(ended_);
}

TEST_F(GrantBindingTest, NoWarningOnceItsTimeHasPassedOrWithoutAHandler) {
  auto g = grant(600s);
  clock_.set(g.end - 60s);
  GrantBinding b(io_, *engine_, *registry_);
  b.bind(record(), source_, decide(), 300s, events());
  auto e = events();
  e.warn = nullptr;
  GrantBinding quiet(io_, *engine_, *registry_);
  setClock(g.end - 300s - 20ms);
  quiet.bind(record(), source_, decide(), 300s, std::move(e));
  // Both bindings' only armed timers are at the end: nothing is due now.
  EXPECT_EQ(io_.poll(), 0u);
  EXPECT_FALSE(warned_);
}

TEST_F(GrantBindingTest, AnUnboundOrDestroyedBindingHearsNothingMore) {
  auto g = grant(600s);
  {
    GrantBinding b(io_, *engine_, *registry_);
    b.bind(record(), source_, decide(), 0s, events());
    clock_.set(g.end);
    b.unbind();
    EXPECT_EQ(registry_->size(), 0u);
    b.bind(record(), source_, engine_->decide("alice", "vm1", 22, source_, g.end - 1s), 0s,
           events());
  }                   // destroyed with its timer due
  io_.run_for(50ms);  // the destroyed binding's due timer runs, finds it gone
  EXPECT_FALSE(ended_);
  EXPECT_EQ(registry_->size(), 0u);
}

}  // namespace
}  // namespace jitgate
