// The audit throttle: a burst a second written one by one, the rest counted
// into one summary that loses none of them.
#include "jitgate/audit_throttle.hpp"

#include <gtest/gtest.h>

namespace jitgate {
namespace {

using Clock = AuditThrottle::Clock;

AuditEntry refusal(const std::string& reason, const std::string& source) {
  AuditEntry e;
  e.actor = "-";
  e.action = "session.refused";
  e.outcome = "denied";
  e.source = source;
  e.detail = "front=winrm reason=" + reason + ": some message about " + source;
  return e;
}

TEST(AuditThrottleTest, ABurstASecondThenASummaryByReasonAndSource) {
  AuditThrottle t("pre-authentication refusals", 3);
  auto t0 = Clock::time_point{} + std::chrono::hours(1);
  int written = 0;
  for (int i = 0; i < 10; ++i)
    if (t.pass(refusal(i % 2 ? "no_grant" : "bad_credentials", "10.0.0." + std::to_string(i % 3)),
               t0 + std::chrono::milliseconds(i)))
      ++written;
  EXPECT_EQ(written, 3);
  EXPECT_EQ(t.counted(), 7);
  auto s = t.summary();
  ASSERT_TRUE(s);
  EXPECT_EQ(s->action, "session.refused");
  EXPECT_EQ(s->outcome, "denied");
  EXPECT_EQ(s->detail,
            "7 pre-authentication refusals not recorded one by one (more than 3 a second): "
            "session.refused front=winrm reason=no_grant 4, "
            "session.refused front=winrm reason=bad_credentials 3; "
            "from 10.0.0.0 3, 10.0.0.1 2, 10.0.0.2 2");
  EXPECT_FALSE(t.summary()) << "counted once only";
  EXPECT_EQ(t.counted(), 0);
}

TEST(AuditThrottleTest, ANewSecondWritesOneByOneAgain) {
  AuditThrottle t("refusals", 2);
  auto t0 = Clock::time_point{} + std::chrono::hours(1);
  EXPECT_TRUE(t.pass(refusal("a", "s"), t0));
  EXPECT_TRUE(t.pass(refusal("a", "s"), t0 + std::chrono::milliseconds(10)));
  EXPECT_FALSE(t.pass(refusal("a", "s"), t0 + std::chrono::milliseconds(999)));
  EXPECT_TRUE(t.pass(refusal("a", "s"), t0 + std::chrono::milliseconds(1000)));
  EXPECT_EQ(t.counted(), 1);
  EXPECT_FALSE(AuditThrottle("refusals", 2).summary()) << "nothing counted, nothing to say";
}

TEST(AuditThrottleTest, TheSummaryIsDueWhenTheFloodIsQuietOrAfterAMinute) {
  AuditThrottle t("refusals", 0);
  auto t0 = Clock::time_point{} + std::chrono::hours(1);
  using std::chrono::milliseconds;
  EXPECT_FALSE(t.pass(refusal("a", "s"), t0));
  EXPECT_EQ(t.summaryDue(), t0 + milliseconds(1000));
  EXPECT_FALSE(t.pass(refusal("a", "s"), t0 + milliseconds(700)));
  EXPECT_EQ(t.summaryDue(), t0 + milliseconds(1700)) << "a second after the last";
  EXPECT_FALSE(t.pass(refusal("a", "s"), t0 + std::chrono::seconds(59) + milliseconds(500)));
  EXPECT_EQ(t.summaryDue(), t0 + std::chrono::minutes(1)) << "at most a minute after the first";
}

TEST(AuditThrottleTest, ManySourcesAreNamedUpToFive) {
  AuditThrottle t("refusals", 0);
  auto t0 = Clock::time_point{} + std::chrono::hours(1);
  for (int i = 0; i < 8; ++i) EXPECT_FALSE(t.pass(refusal("x", "h" + std::to_string(i)), t0));
  auto s = t.summary();
  ASSERT_TRUE(s);
  EXPECT_NE(s->detail.find("h0 1, h1 1, h2 1, h3 1, h4 1, and 3 more"), std::string::npos)
      << s->detail;
}

}  // namespace
}  // namespace jitgate
