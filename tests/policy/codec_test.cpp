// The control API's JSON shapes (docs/CONTROL_API.md): decoders' acceptance and
// field-naming refusals, encoders' field names, and the audit CSV.
#include "jitgate/codec.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <set>
#include <string>
#include <string_view>

#include "../support/refusals.hpp"
#include "../support/test_support.hpp"
#include "jitgate/json_input.hpp"

namespace jitgate {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

using testing::refused;

constexpr auto kInvalid = RefusalCode::InvalidArgument;

json::object obj(std::string_view text) {
  auto r = parseJsonObject(text);
  EXPECT_TRUE(r.ok()) << text << ": " << (r.ok() ? "" : r.refusal().describe());
  return r.ok() ? *r : json::object{};
}

std::set<std::string> keys(const json::object& o) {
  std::set<std::string> out;
  for (const auto& kv : o) out.emplace(kv.key());
  return out;
}

Cidr cidr(const char* s) { return Cidr::parse(s).value(); }
using testing::at;

// A real key (ssh-keygen -t ed25519) and the fingerprint ssh-keygen -l gives it.
constexpr const char* kKey =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPr8OVGwtQXclMQy/UgmcarVeesZtesfQTfd61HktBYH alice@laptop";
constexpr const char* kKeyFingerprint = "SHA256:vgMF90Qycf46z4Mu+yy1t9JlAn19QRZ/68jvqLoujzs";

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

// --- encode ------------------------------------------------------------------------------

TEST(Encode, Target) {
  Target t;
  t.name = "web1";
  t.address = "10.0.0.5";
  t.os = TargetOs::Windows;
  t.sshPort = 2222;
  t.createdAt = at("2026-11-23T14:00:00Z");
  auto o = encode(t);
  EXPECT_EQ(keys(o), (std::set<std::string>{"name", "address", "os", "sshPort", "winrmHttpPort",
                                            "winrmHttpsPort", "createdUtc"}));
  EXPECT_EQ(o.at("name"), "web1");
  EXPECT_EQ(o.at("os"), "windows");
  EXPECT_EQ(o.at("sshPort").to_number<int64_t>(), 2222);
  EXPECT_EQ(o.at("winrmHttpPort").to_number<int64_t>(), 5985);
  EXPECT_EQ(o.at("winrmHttpsPort").to_number<int64_t>(), 5986);
  EXPECT_EQ(o.at("createdUtc"), "2026-11-23T14:00:00Z");
}

TEST(Encode, TargetRoundTripsThroughDecode) {
  Target t;
  t.name = "web1";
  t.address = "db.example.com";
  t.os = TargetOs::Linux;
  t.winrmHttpsPort = 443;
  auto o = encode(t);
  o.erase("createdUtc");
  // Through text, as a client would send it back.
  auto back = decodeTarget(obj(json::serialize(o)));
  ASSERT_TRUE(back.ok()) << back.refusal().describe();
  EXPECT_EQ(back->name, t.name);
  EXPECT_EQ(back->address, t.address);
  EXPECT_EQ(back->os, t.os);
  EXPECT_EQ(back->winrmHttpsPort, 443);
}

TEST(Encode, TargetView) {
  TargetView v;
  v.target.name = "web1";
  v.target.address = "10.0.0.5";
  v.state = TargetState::NotConfigured;
  v.reason = "enable a JIT policy";
  auto o = encode(v);
  EXPECT_EQ(keys(o), (std::set<std::string>{"name", "address", "os", "sshPort", "winrmHttpPort",
                                            "winrmHttpsPort", "createdUtc", "state", "reason",
                                            "policy", "approvedRequestsLast7Days", "lastAccessUtc",
                                            "lastUser", "lastSource"}));
  EXPECT_EQ(o.at("state"), "not_configured");
  EXPECT_TRUE(o.at("policy").is_null());
  EXPECT_TRUE(o.at("lastAccessUtc").is_null());
  EXPECT_EQ(o.at("approvedRequestsLast7Days").to_number<int64_t>(), 0);

  v.state = TargetState::Configured;
  v.policy = defaultPolicy(v.target);
  v.approvedLast7Days = 3;
  v.lastAccess = std::chrono::sys_time<std::chrono::milliseconds>(at("2026-11-23T14:00:00Z")) +
                 std::chrono::milliseconds(250);
  v.lastUser = "alice";
  v.lastSource = "10.1.2.3";
  auto c = encode(v);
  EXPECT_EQ(c.at("state"), "configured");
  ASSERT_TRUE(c.at("policy").is_object());
  EXPECT_EQ(c.at("policy").as_object().at("target"), "web1");
  EXPECT_EQ(c.at("approvedRequestsLast7Days").to_number<int64_t>(), 3);
  EXPECT_EQ(c.at("lastAccessUtc"), "2026-11-23T14:00:00.250Z");
  EXPECT_EQ(c.at("lastUser"), "alice");
  EXPECT_EQ(c.at("lastSource"), "10.1.2.3");
  v.state = TargetState::Unsupported;
  EXPECT_EQ(encode(v).at("state"), "unsupported");
}

TEST(Encode, Policy) {
  Policy p;
  p.target = "web1";
  PortRule r;
  r.number = 22;
  r.allowedSources = {cidr("10.0.0.0/8"), Cidr::any()};
  r.maxDuration = 90min;
  p.ports = {r};
  p.requireApproval = true;
  p.updatedAt = at("2026-11-23T14:00:00Z");
  p.updatedBy = "root";
  auto o = encode(p);
  EXPECT_EQ(keys(o),
            (std::set<std::string>{"target", "ports", "requireApproval", "minRequestPrefixV4",
                                   "minRequestPrefixV6", "updatedUtc", "updatedBy"}));
  EXPECT_EQ(o.at("minRequestPrefixV4"), 24);
  EXPECT_EQ(o.at("minRequestPrefixV6"), 64);
  EXPECT_EQ(o.at("target"), "web1");
  EXPECT_EQ(o.at("requireApproval"), true);
  EXPECT_EQ(o.at("updatedUtc"), "2026-11-23T14:00:00Z");
  EXPECT_EQ(o.at("updatedBy"), "root");
  const auto& port = o.at("ports").as_array().at(0).as_object();
  EXPECT_EQ(keys(port), (std::set<std::string>{"number", "protocol", "allowedSourceAddressPrefixes",
                                               "maxRequestAccessDuration"}));
  EXPECT_EQ(port.at("number").to_number<int64_t>(), 22);
  EXPECT_EQ(port.at("protocol"), "tcp");
  EXPECT_EQ(port.at("allowedSourceAddressPrefixes").as_array(), (json::array{"10.0.0.0/8", "*"}));
  EXPECT_EQ(port.at("maxRequestAccessDuration"), "PT1H30M");
}

TEST(Encode, PolicyPortsDecodeBack) {
  Policy p;
  PortRule r;
  r.number = 5986;
  r.allowedSources = {cidr("2001:db8::/32")};
  r.maxDuration = 24h;
  p.ports = {r};
  auto o = encode(p);
  json::object body{{"ports", o.at("ports")}, {"requireApproval", o.at("requireApproval")}};
  auto back = decodePolicy(obj(json::serialize(body)), "web1");
  ASSERT_TRUE(back.ok()) << back.refusal().describe();
  ASSERT_EQ(back->ports.size(), 1u);
  EXPECT_EQ(back->ports[0].number, 5986);
  EXPECT_EQ(back->ports[0].allowedSources, r.allowedSources);
  EXPECT_EQ(back->ports[0].maxDuration, 24h);
}

TEST(Encode, Grant) {
  Grant g;
  g.id = "g-0011223344556677";
  g.user = "alice";
  g.target = "web1";
  g.port = 22;
  g.source = cidr("10.1.2.0/24");
  g.start = at("2026-11-23T14:00:00Z");
  g.end = at("2026-11-23T17:00:00Z");
  g.requestedBy = "alice";
  g.approvedBy = "root";
  g.justification = "j";
  g.requestId = "r-1";
  auto o = encode(g);
  EXPECT_EQ(keys(o),
            (std::set<std::string>{"id", "user", "target", "port", "source", "startTimeUtc",
                                   "endTimeUtc", "requestedBy", "approvedBy", "justification",
                                   "requestId", "state", "revokedUtc", "revokedBy"}));
  EXPECT_EQ(o.at("id"), "g-0011223344556677");
  EXPECT_EQ(o.at("port").to_number<int64_t>(), 22);
  EXPECT_EQ(o.at("source"), "10.1.2.0/24");
  EXPECT_EQ(o.at("startTimeUtc"), "2026-11-23T14:00:00Z");
  EXPECT_EQ(o.at("endTimeUtc"), "2026-11-23T17:00:00Z");
  EXPECT_EQ(o.at("state"), "active");
  EXPECT_TRUE(o.at("revokedUtc").is_null());
  EXPECT_EQ(o.at("revokedBy"), "");

  g.state = GrantState::Revoked;
  g.revokedAt = at("2026-11-23T15:00:00Z");
  g.revokedBy = "root";
  auto r = encode(g);
  EXPECT_EQ(r.at("state"), "revoked");
  EXPECT_EQ(r.at("revokedUtc"), "2026-11-23T15:00:00Z");
  EXPECT_EQ(r.at("revokedBy"), "root");
}

TEST(Encode, AccessRequest) {
  AccessRequest r;
  r.id = "r-1";
  r.requester = "bob";
  r.target = "web1";
  RequestedPort a, b;
  a.number = 22;
  a.source = cidr("10.1.2.3");
  a.duration = 30min;
  b.number = 3389;
  b.source = cidr("10.1.2.3");
  b.endTime = at("2026-11-23T15:00:00Z");
  r.ports = {a, b};
  r.justification = "deploy";
  r.state = RequestState::Approved;
  r.createdAt = at("2026-11-23T14:00:00Z");
  r.decidedBy = "policy";
  r.decidedAt = at("2026-11-23T14:00:00Z");
  r.grantIds = {"g-1", "g-2"};
  auto o = encode(r);
  EXPECT_EQ(keys(o),
            (std::set<std::string>{"id", "requester", "target", "ports", "justification", "state",
                                   "createdUtc", "decidedBy", "decidedUtc", "reason", "grants"}));
  EXPECT_EQ(o.at("state"), "approved");
  EXPECT_EQ(o.at("decidedUtc"), "2026-11-23T14:00:00Z");
  EXPECT_EQ(o.at("grants").as_array(), (json::array{"g-1", "g-2"}));
  const auto& ports = o.at("ports").as_array();
  ASSERT_EQ(ports.size(), 2u);
  EXPECT_EQ(keys(ports[0].as_object()), (std::set<std::string>{"number", "source", "duration"}));
  EXPECT_EQ(ports[0].as_object().at("duration"), "PT30M");
  EXPECT_EQ(ports[0].as_object().at("source"), "10.1.2.3/32");
  EXPECT_EQ(keys(ports[1].as_object()), (std::set<std::string>{"number", "source", "endTimeUtc"}));
  EXPECT_EQ(ports[1].as_object().at("endTimeUtc"), "2026-11-23T15:00:00Z");

  AccessRequest pending;
  pending.id = "r-2";
  EXPECT_EQ(encode(pending).at("state"), "pending");
  EXPECT_TRUE(encode(pending).at("decidedUtc").is_null());
  EXPECT_EQ(encode(pending).at("grants").as_array().size(), 0u);
}

TEST(Encode, UserShowsFingerprintsNotKeyData) {
  User u;
  u.name = "alice";
  u.keys = {parseSshPublicKey(kKey).value()};
  u.createdAt = at("2026-11-23T14:00:00Z");
  auto o = encode(u);
  EXPECT_EQ(keys(o), (std::set<std::string>{"name", "keys", "createdUtc"}));
  const auto& k = o.at("keys").as_array().at(0).as_object();
  EXPECT_EQ(keys(k), (std::set<std::string>{"type", "fingerprint", "comment"}));
  EXPECT_EQ(k.at("type"), "ssh-ed25519");
  EXPECT_EQ(k.at("fingerprint"), kKeyFingerprint);
  EXPECT_EQ(k.at("comment"), "alice@laptop");
}

TEST(Encode, AuditEntry) {
  AuditEntry e;
  e.seq = 7;
  e.time = std::chrono::sys_time<std::chrono::milliseconds>(at("2026-11-23T14:00:00Z")) +
           std::chrono::milliseconds(5);
  e.actor = "root";
  e.action = "grant.create";
  e.outcome = "ok";
  e.target = "web1";
  e.port = 22;
  e.source = "10.1.2.3/32";
  e.user = "alice";
  e.grantId = "g-1";
  e.requestId = "r-1";
  e.detail = "d";
  auto o = encode(e);
  EXPECT_EQ(keys(o),
            (std::set<std::string>{"seq", "timeUtc", "actor", "action", "outcome", "target", "port",
                                   "source", "user", "grant", "request", "detail"}));
  EXPECT_EQ(o.at("seq").to_number<int64_t>(), 7);
  EXPECT_EQ(o.at("timeUtc"), "2026-11-23T14:00:00.005Z");
  EXPECT_EQ(o.at("port").to_number<int64_t>(), 22);
  EXPECT_EQ(o.at("grant"), "g-1");
  EXPECT_EQ(o.at("request"), "r-1");
  e.port.reset();
  EXPECT_TRUE(encode(e).at("port").is_null());
}

TEST(Encode, Decision) {
  Decision yes;
  yes.allowed = true;
  yes.grantId = "g-1";
  yes.end = at("2026-11-23T17:00:00Z");
  auto o = encode(yes);
  EXPECT_EQ(keys(o), (std::set<std::string>{"allowed", "grant", "endTimeUtc"}));
  EXPECT_EQ(o.at("allowed"), true);
  EXPECT_EQ(o.at("endTimeUtc"), "2026-11-23T17:00:00Z");
  Decision no;
  no.reason = SessionRefusal::SourceNotAllowed;
  no.message = "not from there";
  auto n = encode(no);
  EXPECT_EQ(keys(n), (std::set<std::string>{"allowed", "reason", "message"}));
  EXPECT_EQ(n.at("allowed"), false);
  EXPECT_EQ(n.at("reason"), "source_not_allowed");
  EXPECT_EQ(n.at("message"), "not from there");
}

TEST(Encode, Refusal) {
  auto o = encode(Refusal{RefusalCode::PolicyViolation, "ports[1].source", "not inside"});
  EXPECT_EQ(keys(o), std::set<std::string>{"error"});
  const auto& e = o.at("error").as_object();
  EXPECT_EQ(keys(e), (std::set<std::string>{"code", "field", "message"}));
  EXPECT_EQ(e.at("code"), "policy_violation");
  EXPECT_EQ(e.at("field"), "ports[1].source");
  EXPECT_EQ(e.at("message"), "not inside");
  EXPECT_EQ(encode(invalid("", "x")).at("error").as_object().at("code"), "invalid_argument");
}

TEST(Encode, RefusalEscapesWhatTheCallerSent) {
  // A message quoting raw input stays printable, valid UTF-8 in the answer.
  auto o = encode(invalid("na\x1bme", "'\xff\xfe' is not valid; caf\xc3\xa9"));
  const auto& e = o.at("error").as_object();
  EXPECT_EQ(e.at("field"), "na\\x1bme");
  EXPECT_EQ(e.at("message"), "'\\xff\\xfe' is not valid; caf\xc3\xa9");
  // And it serialises (Boost.JSON would refuse invalid UTF-8 on the way back in).
  EXPECT_TRUE(parseJsonObject(json::serialize(o)).ok());
}

// --- CSV ---------------------------------------------------------------------------------------

TEST(CsvCell, OrdinaryCellsAreUntouched) {
  for (const char* c : {"", "plain", "10.0.0.0/8", "2001:db8::1", "a=b", "a-b", "x@y", " =1",
                        "grant.create", "42", "caf\xc3\xa9"})
    EXPECT_EQ(csvCell(c), c);
}

TEST(CsvCell, QuotesPerRfc4180) {
  EXPECT_EQ(csvCell("a,b"), "\"a,b\"");
  EXPECT_EQ(csvCell("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(csvCell("\""), "\"\"\"\"");
  EXPECT_EQ(csvCell("a\nb"), "\"a\nb\"");
  EXPECT_EQ(csvCell("a\r\nb"), "\"a\r\nb\"");
  EXPECT_EQ(csvCell("a\rb"), "\"a\rb\"");
}

TEST(CsvCell, NeutralisesFormulaStarts) {
  EXPECT_EQ(csvCell("=SUM(A1:A2)"), "'=SUM(A1:A2)");
  EXPECT_EQ(csvCell("+1"), "'+1");
  EXPECT_EQ(csvCell("-1"), "'-1");
  EXPECT_EQ(csvCell("@cmd"), "'@cmd");
  EXPECT_EQ(csvCell("\tx"), "'\tx");
  EXPECT_EQ(csvCell("\rx"), "\"'\rx\"");
  // Neutralised and quoted together.
  EXPECT_EQ(csvCell("=HYPERLINK(\"http://x\",\"y\")"),
            "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\"");
}

TEST(AuditToCsv, HeaderOnlyWhenEmpty) {
  EXPECT_EQ(auditToCsv({}),
            "seq,time_utc,actor,action,outcome,target,port,source,user,grant,request,detail\r\n");
}

TEST(AuditToCsv, RowsWithCrlfQuotingAndNeutralisation) {
  AuditEntry a;
  a.seq = 1;
  a.time = std::chrono::sys_time<std::chrono::milliseconds>(at("2026-11-23T14:00:00Z")) +
           std::chrono::milliseconds(42);
  a.actor = "root";
  a.action = "grant.create";
  a.outcome = "ok";
  a.target = "web1";
  a.port = 22;
  a.source = "10.1.2.3/32";
  a.user = "alice";
  a.grantId = "g-1";
  a.detail = "window a .. b; justification: fix, \"urgent\"";
  AuditEntry b;
  b.seq = 2;
  b.time = std::chrono::sys_time<std::chrono::milliseconds>(at("2026-11-23T15:00:00Z"));
  b.actor = "=cmd|' /C calc'!A0";
  b.action = "session.refused";
  b.outcome = "denied";
  b.detail = "line1\nline2";
  std::string csv = auditToCsv({a, b});
  std::string want =
      "seq,time_utc,actor,action,outcome,target,port,source,user,grant,request,detail\r\n"
      "1,2026-11-23T14:00:00.042Z,root,grant.create,ok,web1,22,10.1.2.3/32,alice,g-1,,"
      "\"window a .. b; justification: fix, \"\"urgent\"\"\"\r\n"
      "2,2026-11-23T15:00:00.000Z,'=cmd|' /C calc'!A0,session.refused,denied,,,,,,,"
      "\"line1\nline2\"\r\n";
  EXPECT_EQ(csv, want);
}

}  // namespace
}  // namespace jitgate
