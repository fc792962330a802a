// The bastion's command interface without SSH: the tokeniser, each verb
// against a real engine and store, refusals with nothing changed, the audit.
#include "bastion_shell.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>

#include "../support/test_support.hpp"

namespace jitgate {
namespace {

namespace json = boost::json;
using testing::TempDir;

std::vector<std::string> words(std::string_view line) { return tokenizeCommand(line).value(); }

TEST(TokenizeCommand, SplitsLikeAShellWithoutExpansion) {
  EXPECT_EQ(words("request vm1  --port 22"),
            (std::vector<std::string>{"request", "vm1", "--port", "22"}));
  EXPECT_EQ(words("x --justification \"INC-42: db \\\"down\\\"\""),
            (std::vector<std::string>{"x", "--justification", "INC-42: db \"down\""}));
  EXPECT_EQ(words("x 'a \"b\" $HOME' c\\ d"),
            (std::vector<std::string>{"x", "a \"b\" $HOME", "c d"}));
  EXPECT_EQ(words("x ''"), (std::vector<std::string>{"x", ""}));
  EXPECT_TRUE(words("  \t ").empty());
}

TEST(TokenizeCommand, RefusesWhatItCannotReadSafely) {
  for (std::string bad :
       {std::string("x 'open"), std::string("x \"open"), std::string("x \\"), std::string("x\x01y"),
        std::string("x\ny"), std::string("x\x7f"), std::string(kMaxCommandLine + 1, 'a')}) {
    auto r = tokenizeCommand(bad);
    EXPECT_FALSE(r) << bad;
    if (!r) EXPECT_EQ(r.refusal().code, RefusalCode::InvalidArgument);
  }
  std::string many;
  for (size_t i = 0; i <= kMaxCommandWords; ++i) many += "w ";
  EXPECT_FALSE(tokenizeCommand(many));
}

class BastionShellTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = openSqliteStore(dir_ / "db");
    ASSERT_TRUE(s) << s.refusal().describe();
    store_ = std::move(*s);
    engine_ = std::make_unique<GrantEngine>(*store_, clock_, io_);
    ASSERT_TRUE(engine_->start().ok());
    api_ = std::make_unique<ControlApi>(*engine_, "test");
    shell_ = std::make_unique<BastionShell>(*api_);
    Target t;
    t.name = "vm1";
    t.address = "10.0.0.5";
    ASSERT_TRUE(engine_->addTarget("root", t));
    Policy p;
    p.target = "vm1";
    PortRule r;
    r.number = 22;
    r.allowedSources = {Cidr::parse("10.0.0.0/8").value()};
    r.maxDuration = std::chrono::hours(3);
    p.ports = {r};
    ASSERT_TRUE(engine_->setPolicy("root", p));
    carol_.name = "carol";
    carol_.roles.requester = true;
    carol_.source = IpAddress::parse("10.1.2.3").value();
  }
  ShellAnswer run(const std::string& line) { return shell_->run(carol_, line); }
  size_t requestCount() { return engine_->requests().value().size(); }
  std::vector<Grant> active() { return engine_->grants(true).value(); }

  TempDir dir_;
  testing::FakeClock clock_{testing::at("2026-11-23T12:00:00Z")};
  boost::asio::io_context io_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<GrantEngine> engine_;
  std::unique_ptr<ControlApi> api_;
  std::unique_ptr<BastionShell> shell_;
  ShellUser carol_;
};

TEST_F(BastionShellTest, WhoamiAndHelp) {
  auto w = run("whoami");
  EXPECT_EQ(w.exitStatus, 0);
  EXPECT_EQ(w.out, "carol (roles: requester) from 10.1.2.3\n");
  auto j = json::parse(run("whoami --json").out);
  EXPECT_EQ(j.at("user").as_string(), "carol");
  EXPECT_EQ(j.at("source").as_string(), "10.1.2.3");
  auto h = run("help");
  EXPECT_EQ(h.exitStatus, 0);
  EXPECT_NE(h.out.find("request TARGET --port N --for DURATION"), std::string::npos) << h.out;
  EXPECT_GE(json::parse(run("help --json").out).as_array().size(), 8u);
}

TEST_F(BastionShellTest, TargetsShowWhatMayBeRequested) {
  auto t = run("targets");
  ASSERT_EQ(t.exitStatus, 0) << t.err;
  EXPECT_NE(t.out.find("vm1"), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("10.0.0.0/8"), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("PT3H"), std::string::npos) << t.out;
  auto j = json::parse(run("targets --json").out);
  EXPECT_EQ(j.as_array().at(0).at("target").as_string(), "vm1");
}

TEST_F(BastionShellTest, ARequestWithinPolicyIsAGrantFromTheConnectionsAddress) {
  auto r = run("request vm1 --port 22 --for 1h --justification \"INC-42 db down\"");
  ASSERT_EQ(r.exitStatus, 0) << r.err;
  EXPECT_NE(r.out.find("approved"), std::string::npos) << r.out;
  auto gs = active();
  ASSERT_EQ(gs.size(), 1u);
  EXPECT_EQ(gs[0].user, "carol");
  EXPECT_EQ(gs[0].source.toString(), "10.1.2.3/32");
  EXPECT_EQ(gs[0].justification, "INC-42 db down");
  EXPECT_EQ(gs[0].end - gs[0].start, std::chrono::hours(1));
  EXPECT_TRUE(engine_->decide("carol", "vm1", 22, carol_.source).allowed);
  auto listed = json::parse(run("grants --json").out).as_array();
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].at("id").as_string(), gs[0].id);
  EXPECT_NE(run("grants").out.find(gs[0].id), std::string::npos);
  auto reqs = json::parse(run("requests --json").out).as_array();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].at("state").as_string(), "approved");
  // --from narrows it to another source inside the policy.
  auto from = run("request vm1 --port 22 --for 30m --from 10.9.9.0/24 --justification x --json");
  ASSERT_EQ(from.exitStatus, 0) << from.err;
  EXPECT_EQ(json::parse(from.out).at("ports").at(0).at("source").as_string(), "10.9.9.0/24");
}

TEST_F(BastionShellTest, RequestsOutsidePolicyAreRefusedByTheEngine) {
  auto longer = run("request vm1 --port 22 --for 4h --justification x");
  EXPECT_EQ(longer.exitStatus, 1);
  EXPECT_NE(longer.err.find("exceeds the maximum PT3H"), std::string::npos) << longer.err;
  EXPECT_EQ(longer.err.back(), '\n');
  EXPECT_EQ(longer.err.find('\n'), longer.err.size() - 1) << "one line: " << longer.err;
  auto port = run("request vm1 --port 2222 --for 1h --justification x");
  EXPECT_EQ(port.exitStatus, 1);
  EXPECT_NE(port.err.find("not configured"), std::string::npos) << port.err;
  auto src = run("request vm1 --port 22 --for 1h --from 192.168.1.1 --justification x");
  EXPECT_EQ(src.exitStatus, 1);
  EXPECT_NE(src.err.find("not inside the allowed source prefixes"), std::string::npos) << src.err;
  auto json = run("request vm1 --port 22 --for 4h --justification x --json");
  EXPECT_EQ(json.exitStatus, 1);
  EXPECT_EQ(json::parse(json.out).at("error").at("code").as_string(), "policy_violation");
  EXPECT_TRUE(active().empty());
}

TEST_F(BastionShellTest, MalformedCommandsChangeNothing) {
  for (const char* bad : {
           "",
           "echo hi",
           "request",
           "request vm1 vm2 --port 22 --for 1h --justification x",
           "request vm1 --port abc --for 1h --justification x",
           "request vm1 --port 0 --for 1h --justification x",
           "request vm1 --port 22 --for 1h",
           "request vm1 --port 22 --justification x",
           "request vm1 --port 22 --for 1h --until 2026-11-23T13:00:00Z --justification x",
           "request vm1 --port 22 --for soon --justification x",
           "request vm1 --port 22 --for 1h --from 10.0.0.300 --justification x",
           "request vm1 --port 22 --for 1h --for 2h --justification x",
           "request vm1 --port 22 --for 1h --justification x --colour",
           "request vm1 --port 22 --for 1h --justification",
           "request ../etc --port 22 --for 1h --justification x",
           "request vm1 --port 22 --for 1h --justification 'open",
           "grants --all=yes",
           "revoke",
           "revoke 'g-1 x'",
           "extend g-1",
           "extend g-1 forever",
           "whoami -x",
       }) {
    auto r = run(bad);
    EXPECT_EQ(r.exitStatus, 2) << bad << ": " << r.err;
    EXPECT_EQ(r.err.rfind("jitgate: ", 0), 0u) << bad << ": " << r.err;
    EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << bad << ": " << r.err;
    EXPECT_TRUE(r.out.empty()) << bad << ": " << r.out;
  }
  EXPECT_EQ(requestCount(), 0u);
  EXPECT_TRUE(active().empty());
  EXPECT_NE(run("echo hi").err.find("log in as carol@TARGET"), std::string::npos);
}

TEST_F(BastionShellTest, ExtendMovesTheEndWithinThePolicy) {
  ASSERT_EQ(run("request vm1 --port 22 --for 1h --justification x").exitStatus, 0);
  auto g = active().at(0);
  auto e = run("extend " + g.id + " 30m");
  ASSERT_EQ(e.exitStatus, 0) << e.err;
  EXPECT_NE(e.out.find("2026-11-23T13:30:00Z"), std::string::npos) << e.out;
  EXPECT_EQ(active().at(0).end, g.end + std::chrono::minutes(30));
  // Counted from now, as a new request would be: 1h30 + 2h > PT3H.
  auto over = run("extend " + g.id + " 2h");
  EXPECT_EQ(over.exitStatus, 1);
  EXPECT_NE(over.err.find("exceeds the maximum PT3H"), std::string::npos) << over.err;
  EXPECT_EQ(active().at(0).end, g.end + std::chrono::minutes(30));
  // The decision follows the new end.
  clock_.set(g.end + std::chrono::minutes(10));
  EXPECT_TRUE(engine_->decide("carol", "vm1", 22, carol_.source).allowed);
}

TEST_F(BastionShellTest, OnlyHerOwnGrantsCanBeRevokedOrExtended) {
  GrantInput in;
  in.user = "dave";
  in.target = "vm1";
  in.port.number = 22;
  in.port.source = Cidr::parse("10.0.0.9").value();
  in.port.duration = std::chrono::hours(1);
  auto dave = engine_->grant("root", in).value();
  for (const std::string& cmd : {"revoke " + dave.id, "extend " + dave.id + " 10m"}) {
    auto r = run(cmd);
    EXPECT_EQ(r.exitStatus, 1) << cmd;
    EXPECT_NE(r.err.find("no grant with id"), std::string::npos) << r.err;
  }
  auto still = active();
  ASSERT_EQ(still.size(), 1u);
  EXPECT_EQ(still[0].end, dave.end);
  EXPECT_EQ(json::parse(run("grants --json").out).as_array().size(), 0u);
  ASSERT_EQ(run("request vm1 --port 22 --for 1h --justification x").exitStatus, 0);
  std::string mine;
  for (const auto& g : active())
    if (g.user == "carol") mine = g.id;
  auto r = run("revoke " + mine);
  ASSERT_EQ(r.exitStatus, 0) << r.err;
  EXPECT_EQ(r.out, "grant " + mine + " is revoked\n");
  EXPECT_FALSE(engine_->decide("carol", "vm1", 22, carol_.source).allowed);
}

TEST_F(BastionShellTest, APendingRequestWaitsAndCannotBeApprovedByItsRequester) {
  auto p = engine_->policy("vm1").value().value();
  p.requireApproval = true;
  ASSERT_TRUE(engine_->setPolicy("root", p));
  auto r = run("request vm1 --port 22 --for 1h --justification x");
  ASSERT_EQ(r.exitStatus, 0) << r.err;
  EXPECT_NE(r.out.find("is pending approval"), std::string::npos) << r.out;
  EXPECT_TRUE(active().empty());
  auto id = engine_->requests().value().at(0).id;
  auto self = run("approve " + id);
  EXPECT_EQ(self.exitStatus, 1);
  EXPECT_TRUE(active().empty());
}

TEST_F(BastionShellTest, EveryCommandIsAuditedWithTheUserAsActor) {
  run("whoami");
  run("request vm1 --port 22 --for 1h --justification x");
  run("request vm1 --port nope");
  AuditQuery q;
  auto entries = engine_->audit(q).value();
  int commands = 0, created = 0;
  for (const auto& e : entries) {
    if (e.action == "bastion.command") {
      ++commands;
      EXPECT_EQ(e.actor, "carol");
      EXPECT_EQ(e.source, "10.1.2.3");
    }
    if (e.action == "request.create") {
      ++created;
      EXPECT_EQ(e.actor, "carol");
    }
  }
  EXPECT_EQ(commands, 3);
  EXPECT_EQ(created, 1);
  bool refusedSeen = false;
  for (const auto& e : entries)
    if (e.action == "bastion.command" && e.outcome == "denied" &&
        e.detail.find("--port nope") != std::string::npos)
      refusedSeen = true;
  EXPECT_TRUE(refusedSeen);
}

}  // namespace
}  // namespace jitgate
