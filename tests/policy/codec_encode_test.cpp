// The control API's JSON shapes (docs/CONTROL_API.md): encoders' field names,
// and the audit CSV.
#include <gtest/gtest.h>

#include "codec_test_support.hpp"
#include "jitgate/codec.hpp"

namespace jitgate {
namespace {

namespace json = boost::json;
using namespace codectest;
using namespace std::chrono_literals;
using testing::at;

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
  e.node = "bastion-a";
  e.session = "s-0011223344556677";
  auto o = encode(e);
  EXPECT_EQ(keys(o), (std::set<std::string>{"seq", "timeUtc", "actor", "action", "outcome",
                                            "target", "port", "source", "user", "grant", "request",
                                            "detail", "node", "session"}));
  EXPECT_EQ(o.at("node"), "bastion-a");
  EXPECT_EQ(o.at("session"), "s-0011223344556677");
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
            "seq,time_utc,actor,action,outcome,target,port,source,user,grant,request,detail,node,"
            "session\r\n");
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
  a.node = "bastion-a";
  AuditEntry b;
  b.seq = 2;
  b.time = std::chrono::sys_time<std::chrono::milliseconds>(at("2026-11-23T15:00:00Z"));
  b.actor = "=cmd|' /C calc'!A0";
  b.action = "session.refused";
  b.outcome = "denied";
  b.detail = "line1\nline2";
  b.session = "s-0011223344556677";
  std::string csv = auditToCsv({a, b});
  std::string want =
      "seq,time_utc,actor,action,outcome,target,port,source,user,grant,request,detail,node,"
      "session\r\n"
      "1,2026-11-23T14:00:00.042Z,root,grant.create,ok,web1,22,10.1.2.3/32,alice,g-1,,"
      "\"window a .. b; justification: fix, \"\"urgent\"\"\",bastion-a,\r\n"
      "2,2026-11-23T15:00:00.000Z,'=cmd|' /C calc'!A0,session.refused,denied,,,,,,,"
      "\"line1\nline2\",,s-0011223344556677\r\n";
  EXPECT_EQ(csv, want);
}

}  // namespace
}  // namespace jitgate
