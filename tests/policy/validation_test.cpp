// The engine's pure rules: validatePolicy, planWindows (what a request or grant
// may have under a policy, and why not) and unsupportedReason.
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "../support/refusals.hpp"
#include "../support/test_support.hpp"
#include "jitgate/engine.hpp"

namespace jitgate {
namespace {

using namespace std::chrono_literals;

using testing::refused;

constexpr auto kInvalid = RefusalCode::InvalidArgument;
constexpr auto kViolation = RefusalCode::PolicyViolation;

Cidr cidr(const char* s) { return Cidr::parse(s).value(); }

PortRule rule(uint16_t number, std::vector<Cidr> sources, Seconds max = 3h) {
  PortRule r;
  r.number = number;
  r.allowedSources = std::move(sources);
  r.maxDuration = max;
  return r;
}

// --- validatePolicy ---------------------------------------------------------------

Policy onePort(PortRule r) {
  Policy p;
  p.target = "web1";
  p.ports = {std::move(r)};
  return p;
}

TEST(ValidatePolicy, AcceptsDefaultsAndTypicalPolicies) {
  Target lin, windows;
  lin.name = "l", windows.name = "w", windows.os = TargetOs::Windows;
  EXPECT_TRUE(validatePolicy(defaultPolicy(lin)).ok());
  EXPECT_TRUE(validatePolicy(defaultPolicy(windows)).ok());
  Policy p;
  p.target = "web1";
  p.ports = {rule(22, {cidr("10.0.0.0/8"), cidr("2001:db8::/32")}, 1h),
             rule(3389, {Cidr::any()}, 24h), rule(5986, {cidr("192.168.1.7")}, 5min)};
  auto st = validatePolicy(p);
  EXPECT_TRUE(st.ok()) << st.refusal().describe();
}

TEST(ValidatePolicy, MinRequestPrefixMustFitItsFamily) {
  Policy p = onePort(rule(22, {Cidr::any()}));
  EXPECT_TRUE(validatePolicy(p).ok());
  EXPECT_EQ(p.minRequestPrefixV4, 24);
  EXPECT_EQ(p.minRequestPrefixV6, 64);
  p.minRequestPrefixV4 = 33;
  EXPECT_TRUE(refused(validatePolicy(p), kInvalid, "minRequestPrefixV4", "0..32"));
  p.minRequestPrefixV4 = -1;
  EXPECT_TRUE(refused(validatePolicy(p), kInvalid, "minRequestPrefixV4", "0..32"));
  p.minRequestPrefixV4 = 32;
  p.minRequestPrefixV6 = 129;
  EXPECT_TRUE(refused(validatePolicy(p), kInvalid, "minRequestPrefixV6", "0..128"));
}

TEST(ValidatePolicy, RefusesNoPorts) {
  Policy p;
  p.target = "web1";
  EXPECT_TRUE(refused(validatePolicy(p), kInvalid, "ports", "at least one port rule"));
}

TEST(ValidatePolicy, RefusesMoreThan64Ports) {
  Policy p;
  for (int i = 1; i <= 65; ++i) p.ports.push_back(rule(uint16_t(i), {Cidr::any()}));
  EXPECT_TRUE(refused(validatePolicy(p), kInvalid, "ports", "at most 64"));
  p.ports.pop_back();
  EXPECT_TRUE(validatePolicy(p).ok());
}

TEST(ValidatePolicy, RefusesDuplicatePort) {
  Policy p;
  p.ports = {rule(22, {Cidr::any()}), rule(3389, {Cidr::any()}), rule(22, {Cidr::any()})};
  EXPECT_TRUE(refused(validatePolicy(p), kInvalid, "ports[2].number", "port 22 appears twice"));
}

TEST(ValidatePolicy, RefusesPortZero) {
  Policy p;
  p.ports = {rule(22, {Cidr::any()}), rule(0, {Cidr::any()})};
  EXPECT_TRUE(refused(validatePolicy(p), kInvalid, "ports[1].number", "1..65535"));
}

TEST(ValidatePolicy, RefusesProtocolsOtherThanTcp) {
  for (const char* proto : {"udp", "TCP", "", "sctp"}) {
    auto r = rule(22, {Cidr::any()});
    r.protocol = proto;
    EXPECT_TRUE(refused(validatePolicy(onePort(r)), kInvalid, "ports[0].protocol", "TCP only"))
        << proto;
  }
  auto r = rule(22, {Cidr::any()});
  r.protocol = "udp";
  EXPECT_TRUE(
      refused(validatePolicy(onePort(r)), kInvalid, "ports[0].protocol", "'udp' is not supported"));
}

TEST(ValidatePolicy, RefusesEmptySources) {
  EXPECT_TRUE(refused(validatePolicy(onePort(rule(22, {}))), kInvalid,
                      "ports[0].allowedSourceAddressPrefixes", "at least one prefix"));
}

TEST(ValidatePolicy, RefusesMoreThan256Sources) {
  std::vector<Cidr> many(257, cidr("10.0.0.0/8"));
  EXPECT_TRUE(refused(validatePolicy(onePort(rule(22, many))), kInvalid,
                      "ports[0].allowedSourceAddressPrefixes", "at most 256"));
  many.pop_back();
  EXPECT_TRUE(validatePolicy(onePort(rule(22, many))).ok());
}

TEST(ValidatePolicy, MaxDurationMustBeWithinFiveMinutesAndOneDay) {
  EXPECT_TRUE(validatePolicy(onePort(rule(22, {Cidr::any()}, 5min))).ok());
  EXPECT_TRUE(validatePolicy(onePort(rule(22, {Cidr::any()}, 24h))).ok());
  EXPECT_TRUE(refused(validatePolicy(onePort(rule(22, {Cidr::any()}, 4min))), kInvalid,
                      "ports[0].maxRequestAccessDuration", "PT4M is outside PT5M..P1D"));
  EXPECT_TRUE(refused(validatePolicy(onePort(rule(22, {Cidr::any()}, 5min - 1s))), kInvalid,
                      "ports[0].maxRequestAccessDuration", "PT4M59S is outside"));
  EXPECT_TRUE(refused(validatePolicy(onePort(rule(22, {Cidr::any()}, 48h))), kInvalid,
                      "ports[0].maxRequestAccessDuration", "P2D is outside PT5M..P1D"));
  EXPECT_TRUE(refused(validatePolicy(onePort(rule(22, {Cidr::any()}, 24h + 1s))), kInvalid,
                      "ports[0].maxRequestAccessDuration", "P1DT1S is outside"));
  EXPECT_TRUE(refused(validatePolicy(onePort(rule(22, {Cidr::any()}, 0s))), kInvalid,
                      "ports[0].maxRequestAccessDuration"));
}

TEST(ValidatePolicy, NamesTheRuleAtFault) {
  Policy p;
  p.ports = {rule(22, {Cidr::any()}), rule(80, {Cidr::any()}), rule(443, {Cidr::any()}, 2min)};
  EXPECT_TRUE(refused(validatePolicy(p), kInvalid, "ports[2].maxRequestAccessDuration"));
}

// --- planWindows -------------------------------------------------------------------

// Most cases are a single-port grant, whose refusals name the grant body's
// fields ("port", "source", "duration", "endTimeUtc"); requests name
// "ports[i].number" and so on (docs/CONTROL_API.md, Errors).
class PlanWindows : public ::testing::Test {
 protected:
  PlanWindows() {
    target_.name = "web1";
    target_.address = "10.0.0.5";
    policy_.target = "web1";
    policy_.ports = {rule(22, {cidr("10.0.0.0/8"), cidr("2001:db8::/32")}, 3h),
                     rule(3389, {Cidr::any()}, 1h)};
  }

  static RequestedPort port(uint16_t n, const char* source, std::optional<Seconds> d,
                            std::optional<SysTime> end = std::nullopt) {
    RequestedPort p;
    p.number = n;
    p.source = cidr(source);
    p.duration = d;
    p.endTime = end;
    return p;
  }

  // As a grant names its fields.
  Result<std::vector<Grant>> plan(std::vector<RequestedPort> ports, bool anySource = false) {
    return planWindows(&policy_, target_, ports, now_, anySource, FieldNames::Grant);
  }
  // As a request names its fields.
  Result<std::vector<Grant>> request(std::vector<RequestedPort> ports) {
    return planWindows(&policy_, target_, ports, now_, false, FieldNames::Request);
  }

  Target target_;
  Policy policy_;
  SysTime now_ = testing::at("2026-11-23T14:00:00Z");
};

TEST_F(PlanWindows, OneWindowStartsNowAndLastsTheDuration) {
  auto r = plan({port(22, "10.1.2.3", 2h)});
  ASSERT_TRUE(r.ok()) << r.refusal().describe();
  ASSERT_EQ(r->size(), 1u);
  const Grant& g = r->front();
  EXPECT_EQ(g.target, "web1");
  EXPECT_EQ(g.port, 22);
  EXPECT_EQ(g.source, cidr("10.1.2.3"));
  EXPECT_EQ(g.start, now_);
  EXPECT_EQ(g.end, now_ + 2h);
  EXPECT_EQ(g.state, GrantState::Active);
}

TEST_F(PlanWindows, DurationEqualToTheMaximumIsAllowed) {
  auto r = plan({port(22, "10.0.0.0/8", 3h)});
  ASSERT_TRUE(r.ok()) << r.refusal().describe();
  EXPECT_EQ(r->front().end, now_ + 3h);
}

TEST_F(PlanWindows, SeveralPortsGiveOneWindowEachInOrder) {
  auto r = request({port(3389, "192.168.1.7", 30min), port(22, "2001:db8:1::/64", 3h)});
  ASSERT_TRUE(r.ok()) << r.refusal().describe();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].port, 3389);
  EXPECT_EQ((*r)[0].source, cidr("192.168.1.7"));
  EXPECT_EQ((*r)[0].start, now_);
  EXPECT_EQ((*r)[0].end, now_ + 30min);
  EXPECT_EQ((*r)[1].port, 22);
  EXPECT_EQ((*r)[1].source, cidr("2001:db8:1::/64"));
  EXPECT_EQ((*r)[1].start, now_);
  EXPECT_EQ((*r)[1].end, now_ + 3h);
}

TEST_F(PlanWindows, RefusesWithoutAPolicy) {
  auto r = planWindows(nullptr, target_, {port(22, "10.1.2.3", 1h)}, now_, false);
  EXPECT_TRUE(refused(r, kViolation, "target", "'web1' has no JIT policy"));
  // Whatever else is wrong with the ports.
  EXPECT_TRUE(refused(planWindows(nullptr, target_, {port(80, "0.0.0.0/0", 9h)}, now_, false),
                      kViolation, "target"));
}

TEST_F(PlanWindows, RefusesNoPortsAndTooMany) {
  EXPECT_TRUE(refused(request({}), kInvalid, "ports", "at least one port"));
  std::vector<RequestedPort> many;
  for (int i = 1; i <= 65; ++i) many.push_back(port(uint16_t(i), "10.1.2.3", 1h));
  EXPECT_TRUE(refused(request(many), kInvalid, "ports", "at most 64"));
}

TEST_F(PlanWindows, RefusesUnconfiguredPortNamingTheConfiguredOnes) {
  auto r = plan({port(80, "10.1.2.3", 1h)});
  EXPECT_TRUE(refused(r, kViolation, "port", "port 80 is not configured"));
  EXPECT_TRUE(refused(r, kViolation, "port", "(configured: 22, 3389)"));
  EXPECT_TRUE(refused(r, kViolation, "port", "'web1'"));
}

TEST_F(PlanWindows, RefusesPortZero) {
  EXPECT_TRUE(refused(plan({port(0, "10.1.2.3", 1h)}), kInvalid, "port", "1..65535"));
}

TEST_F(PlanWindows, RefusesSourceOutsideTheAllowedPrefixes) {
  auto r = plan({port(22, "192.168.1.7", 1h)});
  EXPECT_TRUE(refused(r, kViolation, "source", "192.168.1.7/32 is not inside"));
  EXPECT_TRUE(refused(r, kViolation, "source", "(10.0.0.0/8, 2001:db8::/32)"));
  // Wider than allowed, though overlapping.
  EXPECT_TRUE(refused(plan({port(22, "10.0.0.0/7", 1h)}), kViolation, "source", "not inside"));
  EXPECT_TRUE(refused(plan({port(22, "2001:db8::/31", 1h)}), kViolation, "source", "not inside"));
}

TEST_F(PlanWindows, MappedClientAddressMatchesAnIpv4Prefix) {
  auto r = plan({port(22, "::ffff:10.1.2.3", 1h)});
  ASSERT_TRUE(r.ok()) << r.refusal().describe();
  EXPECT_EQ(r->front().source, cidr("10.1.2.3"));
}

TEST_F(PlanWindows, RefusesAnySourceUnlessAllowed) {
  for (const char* any : {"*", "0.0.0.0/0", "::/0"}) {
    EXPECT_TRUE(refused(plan({port(3389, any, 1h)}), kViolation, "source", "admits every address"))
        << any;
    auto ok = plan({port(3389, any, 1h)}, /*anySource=*/true);
    ASSERT_TRUE(ok.ok()) << any << ": " << ok.refusal().describe();
    EXPECT_EQ(ok->front().source, cidr(any));
  }
}

TEST_F(PlanWindows, AnySourceAllowedStillNeedsThePolicyToAllowIt) {
  EXPECT_TRUE(refused(plan({port(22, "0.0.0.0/0", 1h)}, true), kViolation, "source", "not inside"));
  EXPECT_TRUE(refused(plan({port(22, "*", 1h)}, true), kViolation, "source", "not inside"));
}

TEST_F(PlanWindows, WideButNotWholeFamilySourcesNeedNoAnySourceFlag) {
  for (const char* wide : {"0.0.0.0/1", "::/96", "::/81", "2000::/3"}) {
    auto r = plan({port(3389, wide, 1h)});
    EXPECT_TRUE(r.ok()) << wide << ": " << r.refusal().describe();
  }
}

// "::/8" (any ::/N with N <= 80) holds ::ffff:0:0/96, i.e. every IPv4
// client: it is as much "every address" as 0.0.0.0/0, and "a requester can
// never ask for a /0" (docs/CONTROL_API.md).
TEST_F(PlanWindows, RefusesV6PrefixHoldingAllOfIpv4UnlessAnySourceAllowed) {
  for (const char* wide : {"::/8", "::/80", "::ffff:0:0/96"}) {
    EXPECT_TRUE(refused(plan({port(3389, wide, 1h)}), kViolation, "source")) << wide;
    EXPECT_TRUE(refused(request({port(3389, wide, 1h)}), kViolation, "ports[0].source")) << wide;
  }
}

// Two requests for 0.0.0.0/1 and 128.0.0.0/1 would add up to all of IPv4:
// a request's source must be at least the policy's minimum prefix. An
// admin's grant is not held to it.
TEST_F(PlanWindows, RequestsMustAskForANarrowSource) {
  for (const char* half : {"0.0.0.0/1", "128.0.0.0/1"}) {
    EXPECT_TRUE(refused(request({port(3389, half, 1h)}), kViolation, "ports[0].source",
                        std::string(half) +
                            " is wider than a request may ask for on 'web1': at least /24 for "
                            "IPv4 (the policy's minRequestPrefixV4; an admin can grant wider)"))
        << half;
    EXPECT_TRUE(plan({port(3389, half, 1h)}).ok()) << half;
  }
  EXPECT_TRUE(refused(request({port(22, "10.1.2.0/23", 1h)}), kViolation, "ports[0].source",
                      "at least /24 for IPv4"));
  EXPECT_TRUE(request({port(22, "10.1.2.0/24", 1h)}).ok());
  EXPECT_TRUE(request({port(22, "10.1.2.3", 1h)}).ok());
  // IPv4-mapped IPv6 prefixes are IPv4 prefixes.
  EXPECT_TRUE(refused(request({port(3389, "::ffff:0.0.0.0/97", 1h)}), kViolation, "ports[0].source",
                      "for IPv4"));
  EXPECT_TRUE(refused(request({port(22, "2001:db8::/63", 1h)}), kViolation, "ports[0].source",
                      "at least /64 for IPv6 (the policy's minRequestPrefixV6"));
  EXPECT_TRUE(request({port(22, "2001:db8::/64", 1h)}).ok());
  // The policy sets the minimum; 0 lifts it (every address still needs an admin).
  policy_.minRequestPrefixV4 = 16;
  EXPECT_TRUE(request({port(22, "10.1.0.0/16", 1h)}).ok());
  EXPECT_TRUE(refused(request({port(22, "10.0.0.0/15", 1h)}), kViolation, "ports[0].source",
                      "at least /16 for IPv4"));
  policy_.minRequestPrefixV4 = 0;
  EXPECT_TRUE(request({port(3389, "0.0.0.0/1", 1h)}).ok());
  EXPECT_TRUE(refused(request({port(3389, "0.0.0.0/0", 1h)}), kViolation, "ports[0].source",
                      "admits every address"));
}

TEST_F(PlanWindows, RefusesDurationOverTheMaximum) {
  EXPECT_TRUE(refused(plan({port(22, "10.1.2.3", 3h + 1s)}), kViolation, "duration",
                      "window of PT3H1S exceeds the maximum PT3H for port 22"));
}

TEST_F(PlanWindows, RefusesEndTimeInThePastOrNow) {
  EXPECT_TRUE(refused(plan({port(22, "10.1.2.3", std::nullopt, now_ - 1s)}), kInvalid, "endTimeUtc",
                      "2026-11-23T13:59:59Z is not in the future"));
  EXPECT_TRUE(refused(plan({port(22, "10.1.2.3", std::nullopt, now_)}), kInvalid, "endTimeUtc",
                      "2026-11-23T14:00:00Z is not in the future"));
}

TEST_F(PlanWindows, EndTimeWithinTheMaximumEndsThen) {
  auto end = now_ + 2h + 15min;
  auto r = plan({port(22, "10.1.2.3", std::nullopt, end)});
  ASSERT_TRUE(r.ok()) << r.refusal().describe();
  EXPECT_EQ(r->front().start, now_);
  EXPECT_EQ(r->front().end, end);
  auto exact = plan({port(22, "10.1.2.3", std::nullopt, now_ + 3h)});
  ASSERT_TRUE(exact.ok()) << exact.refusal().describe();
  EXPECT_EQ(exact->front().end, now_ + 3h);
}

TEST_F(PlanWindows, RefusesEndTimeBeyondTheMaximum) {
  EXPECT_TRUE(refused(plan({port(22, "10.1.2.3", std::nullopt, now_ + 3h + 1s)}), kViolation,
                      "endTimeUtc", "window of PT3H1S exceeds the maximum PT3H for port 22"));
}

TEST_F(PlanWindows, RefusesBothOrNeitherDurationAndEndTime) {
  EXPECT_TRUE(
      refused(plan({port(22, "10.1.2.3", 1h, now_ + 1h)}), kInvalid, "duration", "not both"));
  EXPECT_TRUE(refused(plan({port(22, "10.1.2.3", std::nullopt)}), kInvalid, "duration",
                      "give either a duration or an end time"));
}

TEST_F(PlanWindows, RefusesZeroOrNegativeDuration) {
  EXPECT_TRUE(refused(plan({port(22, "10.1.2.3", 0s)}), kInvalid, "duration", "greater than zero"));
  EXPECT_TRUE(
      refused(plan({port(22, "10.1.2.3", -1h)}), kInvalid, "duration", "greater than zero"));
}

TEST_F(PlanWindows, RequestNamesFieldsByIndexEvenForOnePort) {
  EXPECT_TRUE(refused(request({port(80, "10.1.2.3", 1h)}), kViolation, "ports[0].number",
                      "not configured"));
  EXPECT_TRUE(refused(request({port(0, "10.1.2.3", 1h)}), kInvalid, "ports[0].number"));
  EXPECT_TRUE(refused(request({port(22, "192.168.0.1", 1h)}), kViolation, "ports[0].source"));
  EXPECT_TRUE(refused(request({port(22, "10.1.2.3", 4h)}), kViolation, "ports[0].duration"));
  EXPECT_TRUE(refused(request({port(22, "10.1.2.3", std::nullopt, now_ - 1h)}), kInvalid,
                      "ports[0].endTimeUtc"));
  EXPECT_TRUE(refused(request({port(22, "10.1.2.3", std::nullopt, now_ + 4h)}), kViolation,
                      "ports[0].endTimeUtc"));
  EXPECT_TRUE(
      refused(request({port(22, "10.1.2.3", std::nullopt)}), kInvalid, "ports[0].duration"));
}

TEST_F(PlanWindows, RequestNamingIsTheDefault) {
  EXPECT_TRUE(refused(planWindows(&policy_, target_, {port(80, "10.1.2.3", 1h)}, now_, false),
                      kViolation, "ports[0].number"));
}

TEST_F(PlanWindows, RefusesDuplicatePorts) {
  EXPECT_TRUE(refused(request({port(22, "10.1.2.3", 1h), port(22, "10.1.2.4", 1h)}), kInvalid,
                      "ports[1].number", "port 22 asked twice"));
}

TEST_F(PlanWindows, SeveralPortsNameTheOneAtFault) {
  EXPECT_TRUE(refused(request({port(22, "10.1.2.3", 1h), port(3389, "0.0.0.0/0", 1h)}), kViolation,
                      "ports[1].source", "admits every address"));
  EXPECT_TRUE(refused(request({port(3389, "10.1.2.3", 1h), port(22, "192.168.0.1", 1h)}),
                      kViolation, "ports[1].source", "not inside"));
  EXPECT_TRUE(refused(request({port(22, "10.1.2.3", 1h), port(3389, "10.1.2.3", 2h)}), kViolation,
                      "ports[1].duration", "exceeds the maximum PT1H for port 3389"));
  EXPECT_TRUE(refused(request({port(22, "10.1.2.3", 4h), port(3389, "10.1.2.3", 1h)}), kViolation,
                      "ports[0].duration", "exceeds the maximum PT3H"));
  EXPECT_TRUE(refused(request({port(22, "10.1.2.3", 1h), port(80, "10.1.2.3", 1h)}), kViolation,
                      "ports[1].number", "port 80 is not configured"));
  EXPECT_TRUE(
      refused(request({port(22, "10.1.2.3", 1h), port(3389, "10.1.2.3", std::nullopt, now_ - 1h)}),
              kInvalid, "ports[1].endTimeUtc", "not in the future"));
}

TEST_F(PlanWindows, OneBadPortRefusesTheWholePlan) {
  auto r =
      request({port(22, "10.1.2.3", 1h), port(3389, "10.1.2.3", 1h), port(80, "10.1.2.3", 1h)});
  EXPECT_TRUE(refused(r, kViolation, "ports[2].number"));
}

// --- unsupportedReason -----------------------------------------------------------

Target at(const char* address) {
  Target t;
  t.name = "t";
  t.address = address;
  return t;
}

TEST(UnsupportedReason, UnspecifiedAddresses) {
  for (const char* a : {"0.0.0.0", "::", "::ffff:0.0.0.0"}) {
    auto why = unsupportedReason(at(a));
    ASSERT_TRUE(why.has_value()) << a;
    EXPECT_NE(why->find("unspecified"), std::string::npos) << *why;
    EXPECT_NE(why->find(a), std::string::npos) << *why;
  }
}

TEST(UnsupportedReason, MulticastAddresses) {
  for (const char* a : {"224.0.0.1", "239.255.255.255", "ff02::1", "ff05::2", "::ffff:224.0.0.1"}) {
    auto why = unsupportedReason(at(a));
    ASSERT_TRUE(why.has_value()) << a;
    EXPECT_NE(why->find("multicast"), std::string::npos) << *why;
  }
}

TEST(UnsupportedReason, BroadcastAddress) {
  auto why = unsupportedReason(at("255.255.255.255"));
  ASSERT_TRUE(why.has_value());
  EXPECT_NE(why->find("broadcast"), std::string::npos) << *why;
}

TEST(UnsupportedReason, InvalidAddress) {
  for (const char* a : {"", "bad_host", "-x.example", "host..example", "fe80::1%eth0"}) {
    auto why = unsupportedReason(at(a));
    ASSERT_TRUE(why.has_value()) << a;
    EXPECT_NE(why->find("not a host name or IP address"), std::string::npos) << *why;
  }
}

// BUG: see model_test.cpp ValidateAddress.RefusesLegacyNumericFormsThat...:
// "0" dials 0.0.0.0 and "224.1" dials 224.0.0.1 (multicast), yet both pass as
// host names and the target shows as supported.
TEST(UnsupportedReason, LegacyNumericFormsAreNotSupported) {
  for (const char* a : {"0", "224.1", "4294967295", "010.0.0.1"})
    EXPECT_TRUE(unsupportedReason(at(a)).has_value()) << a;
}

TEST(UnsupportedReason, OrdinaryAddressesAndHostNamesAreSupported) {
  for (const char* a : {"10.0.0.5", "127.0.0.1", "223.255.255.255", "192.168.1.1", "2001:db8::1",
                        "::1", "fe80::1", "db1.example.com", "localhost", "::ffff:10.0.0.5"})
    EXPECT_EQ(unsupportedReason(at(a)), std::nullopt) << a;
}

}  // namespace
}  // namespace jitgate
