// The control API's JSON shapes (docs/CONTROL_API.md): decoders' acceptance
// and field-naming refusals. Encoders and the audit CSV: codec_encode_test.cpp.
#include "jitgate/codec.hpp"

#include <gtest/gtest.h>

#include "../support/refusals.hpp"
#include "codec_test_support.hpp"

namespace jitgate {
namespace {

namespace json = boost::json;
using namespace codectest;
using namespace std::chrono_literals;
using testing::at;
using testing::refused;

constexpr auto kInvalid = RefusalCode::InvalidArgument;

// --- decodeTarget ------------------------------------------------------------------

TEST(DecodeTarget, MinimalGetsDefaultPorts) {
  auto t = decodeTarget(obj(R"({"name": "web1", "address": "10.0.0.5", "os": "linux"})"));
  ASSERT_TRUE(t.ok()) << t.refusal().describe();
  EXPECT_EQ(t->name, "web1");
  EXPECT_EQ(t->address, "10.0.0.5");
  EXPECT_EQ(t->os, TargetOs::Linux);
  EXPECT_EQ(t->sshPort, 22);
  EXPECT_EQ(t->winrmHttpPort, 5985);
  EXPECT_EQ(t->winrmHttpsPort, 5986);
}

TEST(DecodeTarget, AllFields) {
  auto t = decodeTarget(obj(R"({"name": "win1", "address": "win1.example.com", "os": "windows",
      "sshPort": 2222, "winrmHttpPort": 15985, "winrmHttpsPort": 15986})"));
  ASSERT_TRUE(t.ok()) << t.refusal().describe();
  EXPECT_EQ(t->os, TargetOs::Windows);
  EXPECT_EQ(t->sshPort, 2222);
  EXPECT_EQ(t->winrmHttpPort, 15985);
  EXPECT_EQ(t->winrmHttpsPort, 15986);
}

TEST(DecodeTarget, NullPortsReadAsAbsent) {
  auto t = decodeTarget(
      obj(R"({"name": "web1", "address": "10.0.0.5", "os": "linux", "sshPort": null})"));
  ASSERT_TRUE(t.ok()) << t.refusal().describe();
  EXPECT_EQ(t->sshPort, 22);
}

TEST(DecodeTarget, RefusesPortsOutOfRange) {
  for (const char* p : {"0", "65536", "-22", "22.5", "\"22\"", "1e400"}) {
    std::string body = std::string(R"({"name": "web1", "address": "10.0.0.5", "os": "linux", )") +
                       "\"sshPort\": " + p + "}";
    EXPECT_TRUE(refused(decodeTarget(obj(body)), kInvalid, "sshPort")) << p;
  }
  EXPECT_TRUE(refused(decodeTarget(obj(R"({"name": "w", "address": "h", "os": "linux",
                                             "winrmHttpPort": 0})")),
                      kInvalid, "winrmHttpPort", "1..65535"));
  EXPECT_TRUE(refused(decodeTarget(obj(R"({"name": "w", "address": "h", "os": "linux",
                                             "winrmHttpsPort": 65536})")),
                      kInvalid, "winrmHttpsPort", "1..65535"));
}

TEST(DecodeTarget, RefusesBadOs) {
  EXPECT_TRUE(refused(decodeTarget(obj(R"({"name": "w", "address": "h", "os": "bsd"})")), kInvalid,
                      "os", "'linux' or 'windows'"));
  EXPECT_TRUE(refused(decodeTarget(obj(R"({"name": "w", "address": "h"})")), kInvalid, "os",
                      "is required"));
}

TEST(DecodeTarget, RefusesMissingOrBadNameAndAddress) {
  EXPECT_TRUE(refused(decodeTarget(obj(R"({"address": "h", "os": "linux"})")), kInvalid, "name",
                      "is required"));
  EXPECT_TRUE(refused(decodeTarget(obj(R"({"name": "-w", "address": "h", "os": "linux"})")),
                      kInvalid, "name", "must not start with"));
  EXPECT_TRUE(refused(decodeTarget(obj(R"({"name": "a/b", "address": "h", "os": "linux"})")),
                      kInvalid, "name", "may hold only"));
  EXPECT_TRUE(refused(decodeTarget(obj(R"({"name": "w", "os": "linux"})")), kInvalid, "address",
                      "is required"));
  EXPECT_TRUE(refused(decodeTarget(obj(R"({"name": "w", "address": "bad_host", "os": "linux"})")),
                      kInvalid, "address", "not a host name or IP address"));
}

TEST(DecodeTarget, RefusesUnknownField) {
  EXPECT_TRUE(refused(decodeTarget(obj(R"({"name": "w", "address": "h", "os": "linux",
                                             "ssh_port": 22})")),
                      kInvalid, "ssh_port", "unknown field"));
}

// --- decodePolicy -----------------------------------------------------------------

TEST(DecodePolicy, EmptyBodyMeansOsDefaults) {
  auto p = decodePolicy(obj("{}"), "web1");
  ASSERT_TRUE(p.ok()) << p.refusal().describe();
  EXPECT_EQ(p->target, "web1");
  EXPECT_TRUE(p->ports.empty());
  EXPECT_FALSE(p->requireApproval);
}

TEST(DecodePolicy, MinimumRequestPrefixes) {
  auto p = decodePolicy(obj("{}"), "web1");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->minRequestPrefixV4, 24);
  EXPECT_EQ(p->minRequestPrefixV6, 64);
  p = decodePolicy(obj(R"({"minRequestPrefixV4": 16, "minRequestPrefixV6": 48})"), "web1");
  ASSERT_TRUE(p.ok()) << p.refusal().describe();
  EXPECT_EQ(p->minRequestPrefixV4, 16);
  EXPECT_EQ(p->minRequestPrefixV6, 48);
  EXPECT_TRUE(refused(decodePolicy(obj(R"({"minRequestPrefixV4": 33})"), "web1"),
                      RefusalCode::InvalidArgument, "minRequestPrefixV4"));
  EXPECT_TRUE(refused(decodePolicy(obj(R"({"minRequestPrefixV6": 129})"), "web1"),
                      RefusalCode::InvalidArgument, "minRequestPrefixV6"));
  EXPECT_TRUE(refused(decodePolicy(obj(R"({"minRequestPrefixV4": "24"})"), "web1"),
                      RefusalCode::InvalidArgument, "minRequestPrefixV4"));
}

TEST(DecodePolicy, FullPolicyAndPerRuleDefaults) {
  auto p = decodePolicy(obj(R"({"requireApproval": true, "ports": [
      {"number": 22, "protocol": "tcp",
       "allowedSourceAddressPrefixes": ["10.0.0.0/8", "2001:db8::/32"],
       "maxRequestAccessDuration": "PT1H"},
      {"number": 3389}]})"),
                        "web1");
  ASSERT_TRUE(p.ok()) << p.refusal().describe();
  EXPECT_TRUE(p->requireApproval);
  ASSERT_EQ(p->ports.size(), 2u);
  EXPECT_EQ(p->ports[0].number, 22);
  EXPECT_EQ(p->ports[0].protocol, "tcp");
  EXPECT_EQ(p->ports[0].allowedSources,
            (std::vector<Cidr>{cidr("10.0.0.0/8"), cidr("2001:db8::/32")}));
  EXPECT_EQ(p->ports[0].maxDuration, 1h);
  EXPECT_EQ(p->ports[1].number, 3389);
  EXPECT_EQ(p->ports[1].protocol, "tcp");
  EXPECT_EQ(p->ports[1].allowedSources, std::vector<Cidr>{Cidr::any()});
  EXPECT_EQ(p->ports[1].maxDuration, 3h);
}

TEST(DecodePolicy, ShortDurationsAndStarAreAccepted) {
  auto p = decodePolicy(obj(R"({"ports": [{"number": 22, "allowedSourceAddressPrefixes": ["*"],
                                           "maxRequestAccessDuration": "90m"}]})"),
                        "web1");
  ASSERT_TRUE(p.ok()) << p.refusal().describe();
  EXPECT_EQ(p->ports[0].allowedSources, std::vector<Cidr>{Cidr::any()});
  EXPECT_EQ(p->ports[0].maxDuration, 90min);
}

TEST(DecodePolicy, RefusesEmptyPortList) {
  EXPECT_TRUE(refused(decodePolicy(obj(R"({"ports": []})"), "web1"), kInvalid, "ports",
                      "at least one port rule"));
}

TEST(DecodePolicy, RefusesPortNumbersOutOfRange) {
  EXPECT_TRUE(refused(decodePolicy(obj(R"({"ports": [{"number": 0}]})"), "w"), kInvalid,
                      "ports[0].number", "1..65535"));
  EXPECT_TRUE(refused(decodePolicy(obj(R"({"ports": [{"number": 22}, {"number": 65536}]})"), "w"),
                      kInvalid, "ports[1].number", "1..65535"));
  EXPECT_TRUE(refused(decodePolicy(obj(R"({"ports": [{"protocol": "tcp"}]})"), "w"), kInvalid,
                      "ports[0].number", "is required"));
}

TEST(DecodePolicy, RefusesNonTcpProtocol) {
  EXPECT_TRUE(refused(decodePolicy(obj(R"({"ports": [{"number": 53, "protocol": "udp"}]})"), "w"),
                      kInvalid, "ports[0].protocol", "'udp' is not supported"));
  EXPECT_TRUE(refused(decodePolicy(obj(R"({"ports": [{"number": 53, "protocol": "udp"}]})"), "w"),
                      kInvalid, "ports[0].protocol", "TCP only"));
  EXPECT_TRUE(refused(decodePolicy(obj(R"({"ports": [{"number": 53, "protocol": "TCP"}]})"), "w"),
                      kInvalid, "ports[0].protocol"));
}

TEST(DecodePolicy, RefusesBadSourcesNamingTheItem) {
  EXPECT_TRUE(refused(
      decodePolicy(obj(R"({"ports": [{"number": 22, "allowedSourceAddressPrefixes": []}]})"), "w"),
      kInvalid, "ports[0].allowedSourceAddressPrefixes", "at least one prefix"));
  EXPECT_TRUE(refused(decodePolicy(obj(R"({"ports": [{"number": 22,
                                      "allowedSourceAddressPrefixes": ["10.0.0.0/8", "10.0.0.1/8"]}]})"),
                                   "w"),
                      kInvalid, "ports[0].allowedSourceAddressPrefixes[1]", "host bits set"));
  EXPECT_TRUE(refused(
      decodePolicy(obj(R"({"ports": [{"number": 22, "allowedSourceAddressPrefixes": ["corp"]}]})"),
                   "w"),
      kInvalid, "ports[0].allowedSourceAddressPrefixes[0]", "is not a CIDR prefix"));
  EXPECT_TRUE(refused(
      decodePolicy(obj(R"({"ports": [{"number": 22, "allowedSourceAddressPrefixes": "*"}]})"), "w"),
      kInvalid, "ports[0].allowedSourceAddressPrefixes", "array of strings"));
}

TEST(DecodePolicy, RefusesBadDurationNamingIt) {
  EXPECT_TRUE(refused(decodePolicy(obj(R"({"ports": [{"number": 22,
                                         "maxRequestAccessDuration": "3 hours"}]})"),
                                   "w"),
                      kInvalid, "ports[0].maxRequestAccessDuration", "is not a duration"));
  EXPECT_TRUE(refused(decodePolicy(obj(R"({"ports": [{"number": 22,
                                         "maxRequestAccessDuration": "P1M"}]})"),
                                   "w"),
                      kInvalid, "ports[0].maxRequestAccessDuration", "no fixed length"));
  EXPECT_TRUE(refused(decodePolicy(obj(R"({"ports": [{"number": 22,
                                         "maxRequestAccessDuration": 3}]})"),
                                   "w"),
                      kInvalid, "ports[0].maxRequestAccessDuration", "must be a string"));
}

TEST(DecodePolicy, RefusesUnknownFieldsAtEachLevel) {
  EXPECT_TRUE(refused(decodePolicy(obj(R"({"ports": [{"number": 22, "source": "*"}]})"), "w"),
                      kInvalid, "ports[0].source", "unknown field"));
  EXPECT_TRUE(refused(decodePolicy(obj(R"({"require_approval": true})"), "w"), kInvalid,
                      "require_approval", "unknown field"));
  EXPECT_TRUE(refused(decodePolicy(obj(R"({"target": "other"})"), "w"), kInvalid, "target",
                      "unknown field"));
}

TEST(DecodePolicy, RefusesWrongTypes) {
  EXPECT_TRUE(refused(decodePolicy(obj(R"({"requireApproval": "yes"})"), "w"), kInvalid,
                      "requireApproval", "true or false"));
  EXPECT_TRUE(refused(decodePolicy(obj(R"({"ports": {"number": 22}})"), "w"), kInvalid, "ports",
                      "array of objects"));
  EXPECT_TRUE(refused(decodePolicy(obj(R"({"ports": [22]})"), "w"), kInvalid, "ports[0]",
                      "must be an object"));
}

// --- decodeGrantInput -----------------------------------------------------------

TEST(DecodeGrantInput, WithDuration) {
  auto g = decodeGrantInput(obj(R"({"user": "alice", "target": "web1", "port": 22,
      "source": "10.1.2.3", "duration": "PT2H", "justification": "incident 42"})"));
  ASSERT_TRUE(g.ok()) << g.refusal().describe();
  EXPECT_EQ(g->user, "alice");
  EXPECT_EQ(g->target, "web1");
  EXPECT_EQ(g->port.number, 22);
  EXPECT_EQ(g->port.source, cidr("10.1.2.3"));
  EXPECT_EQ(g->port.duration, std::optional<Seconds>(2h));
  EXPECT_EQ(g->port.endTime, std::nullopt);
  EXPECT_EQ(g->justification, "incident 42");
  EXPECT_FALSE(g->allowAnySource);
}

TEST(DecodeGrantInput, WithEndTimeAndAnySource) {
  auto g = decodeGrantInput(obj(R"({"user": "alice", "target": "web1", "port": 3389,
      "source": "*", "endTimeUtc": "2026-11-23T16:00:00+02:00", "allowAnySource": true})"));
  ASSERT_TRUE(g.ok()) << g.refusal().describe();
  EXPECT_EQ(g->port.endTime, std::optional<SysTime>(at("2026-11-23T14:00:00Z")));
  EXPECT_EQ(g->port.duration, std::nullopt);
  EXPECT_EQ(g->port.source, Cidr::any());
  EXPECT_TRUE(g->allowAnySource);
  EXPECT_EQ(g->justification, "");
}

std::string grantBody(std::string_view extra) {
  return std::string(R"({"user": "alice", "target": "web1", )") + std::string(extra) + "}";
}

TEST(DecodeGrantInput, RefusesPortOutOfRange) {
  for (const char* p : {"0", "65536", "-1", "\"22\"", "22.0", "99999999999999999999"})
    EXPECT_TRUE(
        refused(decodeGrantInput(obj(grantBody(std::string("\"port\": ") + p +
                                               R"(, "source": "10.1.2.3", "duration": "1h")"))),
                kInvalid, "port"))
        << p;
  EXPECT_TRUE(refused(decodeGrantInput(obj(grantBody(R"("source": "10.1.2.3", "duration": "1h")"))),
                      kInvalid, "port", "is required"));
}

TEST(DecodeGrantInput, RefusesBadSourceNamingIt) {
  EXPECT_TRUE(refused(
      decodeGrantInput(obj(grantBody(R"("port": 22, "source": "10.1.2.3/8", "duration": "1h")"))),
      kInvalid, "source", "host bits set"));
  EXPECT_TRUE(refused(
      decodeGrantInput(obj(grantBody(R"("port": 22, "source": "my-laptop", "duration": "1h")"))),
      kInvalid, "source", "is not a CIDR prefix"));
  EXPECT_TRUE(refused(decodeGrantInput(obj(grantBody(R"("port": 22, "duration": "1h")"))), kInvalid,
                      "source", "is required"));
}

TEST(DecodeGrantInput, RefusesBadDurationOrEndTimeNamingIt) {
  EXPECT_TRUE(refused(decodeGrantInput(obj(
                          grantBody(R"("port": 22, "source": "10.1.2.3", "duration": "forever")"))),
                      kInvalid, "duration", "is not a duration"));
  EXPECT_TRUE(refused(
      decodeGrantInput(obj(grantBody(R"("port": 22, "source": "10.1.2.3", "duration": "P1W")"))),
      kInvalid, "duration", "no fixed length"));
  EXPECT_TRUE(refused(decodeGrantInput(obj(grantBody(
                          R"("port": 22, "source": "10.1.2.3", "endTimeUtc": "tomorrow")"))),
                      kInvalid, "endTimeUtc", "is not an RFC 3339 time"));
  EXPECT_TRUE(refused(
      decodeGrantInput(obj(
          grantBody(R"("port": 22, "source": "10.1.2.3", "endTimeUtc": "2026-11-23T14:00:00")"))),
      kInvalid, "endTimeUtc", "missing time zone offset"));
}

TEST(DecodeGrantInput, RefusesBothOrNeitherDurationAndEndTime) {
  EXPECT_TRUE(refused(
      decodeGrantInput(obj(grantBody(
          R"("port": 22, "source": "10.1.2.3", "duration": "1h", "endTimeUtc": "2026-11-23T14:00:00Z")"))),
      kInvalid, "duration", "exactly one of duration and endTimeUtc"));
  EXPECT_TRUE(refused(decodeGrantInput(obj(grantBody(R"("port": 22, "source": "10.1.2.3")"))),
                      kInvalid, "duration", "exactly one of duration and endTimeUtc"));
  // null reads as absent: a null endTimeUtc next to a duration is fine.
  EXPECT_TRUE(decodeGrantInput(
                  obj(grantBody(
                      R"("port": 22, "source": "10.1.2.3", "duration": "1h", "endTimeUtc": null)")))
                  .ok());
}

TEST(DecodeGrantInput, RefusesUnknownFieldAndBadNames) {
  EXPECT_TRUE(refused(decodeGrantInput(obj(grantBody(
                          R"("port": 22, "source": "10.1.2.3", "duration": "1h", "ttl": 5)"))),
                      kInvalid, "ttl", "unknown field"));
  EXPECT_TRUE(refused(decodeGrantInput(obj(R"({"user": "al ice", "target": "web1", "port": 22,
                                               "source": "10.1.2.3", "duration": "1h"})")),
                      kInvalid, "user", "may hold only"));
  EXPECT_TRUE(refused(decodeGrantInput(obj(R"({"user": "alice", "target": ".web1", "port": 22,
                                               "source": "10.1.2.3", "duration": "1h"})")),
                      kInvalid, "target", "must not start with"));
  EXPECT_TRUE(refused(decodeGrantInput(obj(R"({"user": "alice", "target": "web1", "port": 22,
                         "source": "10.1.2.3", "duration": "1h", "allowAnySource": "yes"})")),
                      kInvalid, "allowAnySource", "true or false"));
}

// --- decodeRequestInput ------------------------------------------------------------

TEST(DecodeRequestInput, SeveralPorts) {
  auto r = decodeRequestInput(obj(R"({"target": "web1", "justification": "deploy", "ports": [
      {"number": 22, "source": "10.1.2.3", "duration": "30m"},
      {"number": 3389, "source": "10.1.2.0/24", "endTimeUtc": "2026-11-23T15:00:00Z"}]})"));
  ASSERT_TRUE(r.ok()) << r.refusal().describe();
  EXPECT_EQ(r->target, "web1");
  EXPECT_EQ(r->justification, "deploy");
  ASSERT_EQ(r->ports.size(), 2u);
  EXPECT_EQ(r->ports[0].number, 22);
  EXPECT_EQ(r->ports[0].duration, std::optional<Seconds>(30min));
  EXPECT_EQ(r->ports[1].number, 3389);
  EXPECT_EQ(r->ports[1].source, cidr("10.1.2.0/24"));
  EXPECT_EQ(r->ports[1].endTime, std::optional<SysTime>(at("2026-11-23T15:00:00Z")));
}

std::string requestBody(std::string_view ports, std::string_view justification = R"("j")") {
  return std::string(R"({"target": "web1", "justification": )") + std::string(justification) +
         R"(, "ports": )" + std::string(ports) + "}";
}

TEST(DecodeRequestInput, RefusesMissingOrEmptyPorts) {
  EXPECT_TRUE(refused(decodeRequestInput(obj(R"({"target": "web1", "justification": "j"})")),
                      kInvalid, "ports", "at least one port"));
  EXPECT_TRUE(
      refused(decodeRequestInput(obj(requestBody("[]"))), kInvalid, "ports", "at least one port"));
}

TEST(DecodeRequestInput, RefusesPortNumbersNamingThem) {
  EXPECT_TRUE(refused(decodeRequestInput(obj(requestBody(
                          R"([{"number": 65536, "source": "10.1.2.3", "duration": "1h"}])"))),
                      kInvalid, "ports[0].number", "1..65535"));
  EXPECT_TRUE(refused(decodeRequestInput(obj(requestBody(
                          R"([{"number": 22, "source": "10.1.2.3", "duration": "1h"},
                              {"number": 0, "source": "10.1.2.3", "duration": "1h"}])"))),
                      kInvalid, "ports[1].number", "1..65535"));
  // The grant's key "port" is not the request's "number".
  EXPECT_TRUE(refused(decodeRequestInput(obj(requestBody(
                          R"([{"port": 22, "source": "10.1.2.3", "duration": "1h"}])"))),
                      kInvalid, "ports[0].number", "is required"));
}

TEST(DecodeRequestInput, RefusesBadPortFieldsNamingThem) {
  EXPECT_TRUE(refused(decodeRequestInput(obj(requestBody(
                          R"([{"number": 22, "source": "10.1.2.3", "duration": "1h"},
                              {"number": 3389, "source": "10.1.2.3/16", "duration": "1h"}])"))),
                      kInvalid, "ports[1].source", "host bits set"));
  EXPECT_TRUE(refused(decodeRequestInput(obj(requestBody(
                          R"([{"number": 22, "source": "10.1.2.3", "duration": "1y"}])"))),
                      kInvalid, "ports[0].duration", "is not a duration"));
  EXPECT_TRUE(refused(
      decodeRequestInput(obj(requestBody(
          R"([{"number": 22, "source": "10.1.2.3", "endTimeUtc": "2026-02-30T00:00:00Z"}])"))),
      kInvalid, "ports[0].endTimeUtc", "no such date"));
  EXPECT_TRUE(refused(decodeRequestInput(obj(requestBody(
                          R"([{"number": 22, "source": "10.1.2.3", "duration": "1h",
                               "endTimeUtc": "2026-11-23T15:00:00Z"}])"))),
                      kInvalid, "ports[0].duration", "exactly one"));
  EXPECT_TRUE(refused(
      decodeRequestInput(obj(
          requestBody(R"([{"number": 22, "source": "10.1.2.3", "duration": "1h", "extra": 1}])"))),
      kInvalid, "ports[0].extra", "unknown field"));
}

TEST(DecodeRequestInput, JustificationIsRequiredPrintableText) {
  EXPECT_TRUE(refused(decodeRequestInput(obj(R"({"target": "web1", "ports": [
                          {"number": 22, "source": "10.1.2.3", "duration": "1h"}]})")),
                      kInvalid, "justification", "is required"));
  const char* port = R"([{"number": 22, "source": "10.1.2.3", "duration": "1h"}])";
  EXPECT_TRUE(refused(decodeRequestInput(obj(requestBody(port, R"("")"))), kInvalid,
                      "justification", "is required"));
  EXPECT_TRUE(refused(decodeRequestInput(obj(requestBody(port, R"("line\nbreak")"))), kInvalid,
                      "justification", "control characters"));
  EXPECT_TRUE(refused(decodeRequestInput(obj(requestBody(port, R"("\u001b[2J")"))), kInvalid,
                      "justification", "control characters"));
  EXPECT_TRUE(
      refused(decodeRequestInput(obj(requestBody(port, "\"" + std::string(513, 'j') + "\""))),
              kInvalid, "justification", "longer than 512"));
}

TEST(DecodeRequestInput, RefusesUnknownFieldAndBadTarget) {
  const char* port = R"([{"number": 22, "source": "10.1.2.3", "duration": "1h"}])";
  EXPECT_TRUE(refused(decodeRequestInput(obj(std::string(R"({"target": "web1", "justification": "j",
                          "requester": "root", "ports": )") +
                                             port + "}")),
                      kInvalid, "requester", "unknown field"));
  EXPECT_TRUE(
      refused(decodeRequestInput(obj(std::string(R"({"target": "web1@x", "justification": "j",
                          "ports": )") +
                                     port + "}")),
              kInvalid, "target", "may hold only"));
}

// --- decodeUser ------------------------------------------------------------------------

TEST(DecodeUser, ParsesKeys) {
  auto u = decodeUser(obj(std::string(R"({"name": "alice", "keys": [")") + kKey + "\"]}"));
  ASSERT_TRUE(u.ok()) << u.refusal().describe();
  EXPECT_EQ(u->name, "alice");
  ASSERT_EQ(u->keys.size(), 1u);
  EXPECT_EQ(u->keys[0].type, "ssh-ed25519");
  EXPECT_EQ(u->keys[0].fingerprint, kKeyFingerprint);
  EXPECT_EQ(u->keys[0].comment, "alice@laptop");
}

TEST(DecodeUser, RefusesMissingOrEmptyKeys) {
  EXPECT_TRUE(refused(decodeUser(obj(R"({"name": "alice"})")), kInvalid, "keys",
                      "at least one public key"));
  EXPECT_TRUE(refused(decodeUser(obj(R"({"name": "alice", "keys": []})")), kInvalid, "keys",
                      "at least one public key"));
  EXPECT_TRUE(refused(decodeUser(obj(std::string(R"({"name": "alice", "keys": ")") + kKey + "\"}")),
                      kInvalid, "keys", "array of strings"));
}

TEST(DecodeUser, RefusesBadKeyNamingIt) {
  auto body =
      std::string(R"({"name": "alice", "keys": [")") + kKey + R"(", "ssh-dss AAAAB3NzaC1kc3M="]})";
  EXPECT_TRUE(refused(decodeUser(obj(body)), kInvalid, "keys[1]", "unsupported key type"));
}

TEST(DecodeUser, RefusesBadNameAndUnknownField) {
  auto keys = std::string(R"("keys": [")") + kKey + "\"]";
  EXPECT_TRUE(refused(decodeUser(obj("{\"name\": \"-alice\", " + keys + "}")), kInvalid, "name",
                      "must not start with"));
  EXPECT_TRUE(refused(decodeUser(obj("{" + keys + "}")), kInvalid, "name", "is required"));
  EXPECT_TRUE(refused(decodeUser(obj("{\"name\": \"alice\", \"admin\": true, " + keys + "}")),
                      kInvalid, "admin", "unknown field"));
}

}  // namespace
}  // namespace jitgate
