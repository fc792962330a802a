// The grant engine against a real store (SQLite, or PostgreSQL with
// JITGATE_TEST_STORE=postgres) and an injected clock:
// decisions, windows, revocation, expiry, restart, requests and approvals.
#include "jitgate/engine.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <set>

#include "../support/postgres.hpp"
#include "../support/test_support.hpp"

namespace jitgate {
namespace {

using namespace std::chrono_literals;
using testing::FakeClock;
using testing::TempDir;

IpAddress ip(const char* s) { return IpAddress::parse(s).value(); }
Cidr cidr(const char* s) { return Cidr::parse(s).value(); }

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override { open(); }

  void open() {
    engine_.reset();
    store_.reset();
    store_ = testing::openTestStore(dir_);
    engine_ = std::make_unique<GrantEngine>(*store_, clock_, io_);
    ASSERT_TRUE(engine_->start().ok());
    engine_->subscribe([this](const GrantEnded& e) { ended_.push_back(e); });
  }

  void addTarget(const std::string& name, TargetOs os = TargetOs::Linux) {
    Target t;
    t.name = name;
    t.address = "10.0.0.5";
    t.os = os;
    ASSERT_TRUE(engine_->addTarget("admin", t).ok());
  }

  void enable(const std::string& target, std::vector<PortRule> ports = {}, bool approval = false) {
    Policy p;
    p.target = target;
    p.ports = std::move(ports);
    p.requireApproval = approval;
    auto r = engine_->setPolicy("admin", p);
    ASSERT_TRUE(r.ok()) << r.refusal().describe();
  }

  Result<Grant> grant(const std::string& user, const std::string& target, uint16_t port,
                      const char* source, Seconds length) {
    GrantInput in;
    in.user = user;
    in.target = target;
    in.port.number = port;
    in.port.source = cidr(source);
    in.port.duration = length;
    return engine_->grant("admin", in);
  }

  TempDir dir_;
  FakeClock clock_{testing::at("2026-11-23T12:00:00Z")};
  boost::asio::io_context io_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<GrantEngine> engine_;
  std::vector<GrantEnded> ended_;
};

TEST_F(EngineTest, DecisionNamesEachReasonForDenial) {
  addTarget("vm1");
  enable("vm1", {PortRule{22, "tcp", {Cidr::any()}, 3h}, PortRule{3389, "tcp", {Cidr::any()}, 3h}});
  ASSERT_TRUE(grant("alice", "vm1", 22, "10.1.0.0/16", 1h).ok());

  auto d = engine_->decide("alice", "nope", 22, ip("10.1.2.3"));
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason, SessionRefusal::UnknownTarget);

  d = engine_->decide("bob", "vm1", 22, ip("10.1.2.3"));
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason, SessionRefusal::NoGrant);

  d = engine_->decide("alice", "vm1", 3389, ip("10.1.2.3"));
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason, SessionRefusal::PortNotGranted);

  d = engine_->decide("alice", "vm1", 22, ip("10.2.0.1"));
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason, SessionRefusal::SourceNotAllowed);
  EXPECT_NE(d.message.find("10.2.0.1"), std::string::npos);

  d = engine_->decide("alice", "vm1", 22, ip("10.1.2.3"));
  EXPECT_TRUE(d.allowed) << d.message;
  EXPECT_EQ(d.end, testing::at("2026-11-23T13:00:00Z"));
}

TEST_F(EngineTest, DecideAnyUserAsksWhetherAnyGrantCoversTargetPortAndSource) {
  addTarget("vm1");
  enable("vm1",
         {PortRule{5985, "tcp", {Cidr::any()}, 3h}, PortRule{5986, "tcp", {Cidr::any()}, 3h}});
  EXPECT_EQ(engine_->decideAnyUser("nope", 5985, ip("10.1.2.3")).reason,
            SessionRefusal::UnknownTarget);
  EXPECT_FALSE(engine_->decideAnyUser("vm1", 5985, ip("10.1.2.3")).allowed);
  auto g = grant("alice", "vm1", 5985, "10.1.0.0/16", 1h);
  ASSERT_TRUE(g.ok());
  auto d = engine_->decideAnyUser("vm1", 5985, ip("10.1.2.3"));
  EXPECT_TRUE(d.allowed) << d.message;
  EXPECT_EQ(d.grantId, g->id);
  EXPECT_FALSE(engine_->decideAnyUser("vm1", 5986, ip("10.1.2.3")).allowed);
  auto other = engine_->decideAnyUser("vm1", 5985, ip("10.2.0.1"));
  EXPECT_FALSE(other.allowed);
  EXPECT_NE(other.message.find("10.2.0.1"), std::string::npos);
  // A window whose end passed counts for nothing even before its expiry is recorded.
  clock_.set(g->end);
  EXPECT_FALSE(engine_->decideAnyUser("vm1", 5985, ip("10.1.2.3")).allowed);
}

TEST_F(EngineTest, MappedAndV6SourcesMatch) {
  addTarget("vm1");
  enable("vm1");
  ASSERT_TRUE(grant("alice", "vm1", 22, "10.1.0.0/16", 1h).ok());
  ASSERT_TRUE(grant("bob", "vm1", 22, "2001:db8::/32", 1h).ok());
  EXPECT_TRUE(engine_->decide("alice", "vm1", 22, ip("::ffff:10.1.9.9")).allowed);
  EXPECT_FALSE(engine_->decide("alice", "vm1", 22, ip("::ffff:10.2.9.9")).allowed);
  EXPECT_TRUE(engine_->decide("bob", "vm1", 22, ip("2001:db8:1::7")).allowed);
  EXPECT_FALSE(engine_->decide("bob", "vm1", 22, ip("2001:db9::7")).allowed);
  EXPECT_FALSE(engine_->decide("bob", "vm1", 22, ip("10.1.0.1")).allowed);
}

TEST_F(EngineTest, WindowEndIsExclusive) {
  addTarget("vm1");
  enable("vm1");
  auto g = grant("alice", "vm1", 22, "10.0.0.0/8", 1h);
  ASSERT_TRUE(g.ok());
  auto end = g->end;
  EXPECT_TRUE(engine_->decide("alice", "vm1", 22, ip("10.0.0.1"), end - 1s).allowed);
  auto d = engine_->decide("alice", "vm1", 22, ip("10.0.0.1"), end);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason, SessionRefusal::WindowEnded);
  d = engine_->decide("alice", "vm1", 22, ip("10.0.0.1"), g->start - 1s);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason, SessionRefusal::NotYetValid);
}

TEST_F(EngineTest, RevokingOneOfOverlappingGrantsLeavesTheOther) {
  addTarget("vm1");
  enable("vm1");
  auto a = grant("alice", "vm1", 22, "10.0.0.0/8", 2h);
  auto b = grant("alice", "vm1", 22, "10.1.0.0/16", 1h);
  ASSERT_TRUE(a.ok() && b.ok());
  // The covering grant that ends last is reported.
  EXPECT_EQ(engine_->decide("alice", "vm1", 22, ip("10.1.0.1")).grantId, a->id);
  ASSERT_TRUE(engine_->revoke("root", a->id).ok());
  auto d = engine_->decide("alice", "vm1", 22, ip("10.1.0.1"));
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.grantId, b->id);
  EXPECT_FALSE(engine_->decide("alice", "vm1", 22, ip("10.2.0.1")).allowed);
  ASSERT_EQ(ended_.size(), 1u);
  EXPECT_EQ(ended_[0].grant.id, a->id);
  EXPECT_EQ(ended_[0].why, WindowEnd::Revoked);
  // Revoking twice is a conflict, not a silent success.
  auto again = engine_->revoke("root", a->id);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.refusal().code, RefusalCode::Conflict);
  auto missing = engine_->revoke("root", "g-0000000000000000");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.refusal().code, RefusalCode::NotFound);
}

TEST_F(EngineTest, ExpiryIsAnnouncedRecordedAndAudited) {
  addTarget("vm1");
  enable("vm1");
  auto g = grant("alice", "vm1", 22, "10.0.0.0/8", 1h);
  ASSERT_TRUE(g.ok());
  clock_.advance(1h - 1s);
  engine_->expireDue();
  EXPECT_TRUE(ended_.empty());
  clock_.advance(1s);
  engine_->expireDue();
  ASSERT_EQ(ended_.size(), 1u);
  EXPECT_EQ(ended_[0].why, WindowEnd::Expired);
  EXPECT_EQ(engine_->activeGrantCount(), 0u);
  auto stored = store_->grant(g->id).value();
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(stored->state, GrantState::Expired);
  auto audit = store_->audit({}).value();
  ASSERT_FALSE(audit.empty());
  EXPECT_EQ(audit.back().action, "grant.expire");
  EXPECT_EQ(audit.back().grantId, g->id);
}

TEST_F(EngineTest, WindowsThatEndedWhileDownStayEnded) {
  addTarget("vm1");
  enable("vm1");
  auto shortOne = grant("alice", "vm1", 22, "10.0.0.0/8", 10min);
  auto longOne = grant("bob", "vm1", 22, "10.0.0.0/8", 2h);
  ASSERT_TRUE(shortOne.ok() && longOne.ok());
  engine_.reset();
  clock_.advance(1h);  // "down" for an hour
  open();
  EXPECT_EQ(store_->grant(shortOne->id).value()->state, GrantState::Expired);
  EXPECT_FALSE(engine_->decide("alice", "vm1", 22, ip("10.0.0.1")).allowed);
  EXPECT_TRUE(engine_->decide("bob", "vm1", 22, ip("10.0.0.1")).allowed);
  EXPECT_EQ(engine_->activeGrantCount(), 1u);
}

TEST_F(EngineTest, RevocationSurvivesRestart) {
  addTarget("vm1");
  enable("vm1");
  auto g = grant("alice", "vm1", 22, "10.0.0.0/8", 1h);
  ASSERT_TRUE(engine_->revoke("root", g->id).ok());
  open();
  EXPECT_FALSE(engine_->decide("alice", "vm1", 22, ip("10.0.0.1")).allowed);
  EXPECT_EQ(store_->grant(g->id).value()->state, GrantState::Revoked);
}

TEST_F(EngineTest, GrantRefusals) {
  addTarget("vm1");
  auto noPolicy = grant("alice", "vm1", 22, "10.0.0.0/8", 1h);
  ASSERT_FALSE(noPolicy.ok());
  EXPECT_EQ(noPolicy.refusal().code, RefusalCode::PolicyViolation);
  EXPECT_EQ(noPolicy.refusal().field, "target");

  enable("vm1", {PortRule{22, "tcp", {cidr("10.0.0.0/8")}, 1h}});
  auto badPort = grant("alice", "vm1", 23, "10.0.0.0/8", 1h);
  ASSERT_FALSE(badPort.ok());
  EXPECT_EQ(badPort.refusal().field, "port");
  auto outside = grant("alice", "vm1", 22, "192.168.0.0/16", 1h);
  ASSERT_FALSE(outside.ok());
  EXPECT_EQ(outside.refusal().field, "source");
  auto tooLong = grant("alice", "vm1", 22, "10.0.0.0/8", 2h);
  ASSERT_FALSE(tooLong.ok());
  EXPECT_EQ(tooLong.refusal().field, "duration");
  auto noTarget = grant("alice", "vm2", 22, "10.0.0.0/8", 1h);
  ASSERT_FALSE(noTarget.ok());
  EXPECT_EQ(noTarget.refusal().code, RefusalCode::NotFound);
  auto badUser = grant("al\nice", "vm1", 22, "10.0.0.0/8", 1h);
  ASSERT_FALSE(badUser.ok());
  EXPECT_EQ(badUser.refusal().field, "user");

  GrantInput past;
  past.user = "alice";
  past.target = "vm1";
  past.port.number = 22;
  past.port.source = cidr("10.0.0.0/8");
  past.port.endTime = std::chrono::floor<Seconds>(clock_.now()) - 1s;
  auto inPast = engine_->grant("admin", past);
  ASSERT_FALSE(inPast.ok());
  EXPECT_EQ(inPast.refusal().field, "endTimeUtc");
  EXPECT_EQ(engine_->activeGrantCount(), 0u);
}

TEST_F(EngineTest, AnySourceNeedsTheAdminFlag) {
  addTarget("vm1");
  enable("vm1");
  auto refused = grant("alice", "vm1", 22, "0.0.0.0/0", 1h);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.refusal().field, "source");
  GrantInput in;
  in.user = "alice";
  in.target = "vm1";
  in.port.number = 22;
  in.port.source = cidr("::/0");
  in.port.duration = 1h;
  EXPECT_FALSE(engine_->grant("admin", in).ok());
  in.allowAnySource = true;
  EXPECT_TRUE(engine_->grant("admin", in).ok());
}

TEST_F(EngineTest, RequestsAreAutoApprovedWithinPolicy) {
  addTarget("vm1");
  enable("vm1", {PortRule{22, "tcp", {cidr("10.0.0.0/8")}, 3h}});
  RequestInput in;
  in.target = "vm1";
  in.justification = "incident 42";
  in.ports.push_back(RequestedPort{22, cidr("10.9.9.9"), 30min, std::nullopt});
  auto r = engine_->request("carol", in);
  ASSERT_TRUE(r.ok()) << r.refusal().describe();
  EXPECT_EQ(r->state, RequestState::Approved);
  EXPECT_EQ(r->decidedBy, "policy");
  ASSERT_EQ(r->grantIds.size(), 1u);
  EXPECT_TRUE(engine_->decide("carol", "vm1", 22, ip("10.9.9.9")).allowed);
  EXPECT_FALSE(engine_->decide("carol", "vm1", 22, ip("10.9.9.8")).allowed);

  // A requester asks for a narrow source: /24 by default, the policy's
  // minRequestPrefixV4 otherwise.
  RequestInput wide = in;
  wide.ports[0].source = cidr("10.0.0.0/8");
  auto tooWide = engine_->request("carol", wide);
  ASSERT_FALSE(tooWide.ok());
  EXPECT_EQ(tooWide.refusal().field, "ports[0].source");
  EXPECT_NE(tooWide.refusal().message.find("at least /24 for IPv4"), std::string::npos)
      << tooWide.refusal().message;
  Policy loose;
  loose.target = "vm1";
  loose.ports = {PortRule{22, "tcp", {cidr("10.0.0.0/8")}, 3h}};
  loose.minRequestPrefixV4 = 8;
  ASSERT_TRUE(engine_->setPolicy("admin", loose).ok());
  EXPECT_TRUE(engine_->request("carol", wide).ok());
  // Kept by the store.
  EXPECT_EQ(store_->policy("vm1").value()->minRequestPrefixV4, 8);
  EXPECT_EQ(store_->policy("vm1").value()->minRequestPrefixV6, kDefaultMinRequestPrefixV6);
  enable("vm1");  // policy "*"
  wide.ports[0].source = Cidr::any();
  auto any = engine_->request("carol", wide);
  ASSERT_FALSE(any.ok());
  EXPECT_EQ(any.refusal().field, "ports[0].source");
  RequestInput noWhy = in;
  noWhy.justification = "";
  auto nj = engine_->request("carol", noWhy);
  ASSERT_FALSE(nj.ok());
  EXPECT_EQ(nj.refusal().field, "justification");
}

TEST_F(EngineTest, ApprovalFlow) {
  addTarget("vm1");
  enable("vm1", {PortRule{22, "tcp", {Cidr::any()}, 3h}}, true);
  RequestInput in;
  in.target = "vm1";
  in.justification = "deploy";
  in.ports.push_back(RequestedPort{22, cidr("10.9.9.9"), 1h, std::nullopt});
  auto r = engine_->request("carol", in);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->state, RequestState::Pending);
  EXPECT_TRUE(r->grantIds.empty());
  EXPECT_FALSE(engine_->decide("carol", "vm1", 22, ip("10.9.9.9")).allowed);

  auto self = engine_->approve("carol", r->id);
  ASSERT_FALSE(self.ok());
  EXPECT_EQ(self.refusal().code, RefusalCode::Forbidden);

  clock_.advance(10min);
  auto ok = engine_->approve("dave", r->id);
  ASSERT_TRUE(ok.ok()) << ok.refusal().describe();
  EXPECT_EQ(ok->state, RequestState::Approved);
  ASSERT_EQ(ok->grantIds.size(), 1u);
  auto g = store_->grant(ok->grantIds[0]).value();
  ASSERT_TRUE(g);
  EXPECT_EQ(g->approvedBy, "dave");
  EXPECT_EQ(g->requestedBy, "carol");
  // The window starts at approval, not at the request.
  EXPECT_EQ(g->start, std::chrono::floor<Seconds>(clock_.now()));
  EXPECT_EQ(g->end - g->start, Seconds(1h));
  EXPECT_TRUE(engine_->decide("carol", "vm1", 22, ip("10.9.9.9")).allowed);

  auto twice = engine_->approve("dave", r->id);
  ASSERT_FALSE(twice.ok());
  EXPECT_EQ(twice.refusal().code, RefusalCode::Conflict);

  auto r2 = engine_->request("carol", in);
  ASSERT_TRUE(r2.ok());
  auto denied = engine_->deny("dave", r2->id, "not today");
  ASSERT_TRUE(denied.ok());
  EXPECT_EQ(denied->state, RequestState::Denied);
  EXPECT_EQ(denied->reason, "not today");
  EXPECT_FALSE(engine_->approve("dave", r2->id).ok());
}

TEST_F(EngineTest, PolicyChangesRevokeWhatTheyNoLongerAllow) {
  addTarget("vm1");
  enable("vm1", {PortRule{22, "tcp", {Cidr::any()}, 3h}, PortRule{3389, "tcp", {Cidr::any()}, 3h}});
  auto ssh = grant("alice", "vm1", 22, "10.0.0.0/8", 1h);
  auto rdp = grant("alice", "vm1", 3389, "10.0.0.0/8", 1h);
  ASSERT_TRUE(ssh.ok() && rdp.ok());
  enable("vm1", {PortRule{22, "tcp", {Cidr::any()}, 3h}});
  ASSERT_EQ(ended_.size(), 1u);
  EXPECT_EQ(ended_[0].grant.id, rdp->id);
  EXPECT_TRUE(engine_->decide("alice", "vm1", 22, ip("10.0.0.1")).allowed);
  EXPECT_FALSE(engine_->decide("alice", "vm1", 3389, ip("10.0.0.1")).allowed);

  ASSERT_TRUE(engine_->disablePolicy("admin", "vm1").ok());
  EXPECT_FALSE(engine_->decide("alice", "vm1", 22, ip("10.0.0.1")).allowed);
  EXPECT_EQ(ended_.size(), 2u);
  auto again = engine_->disablePolicy("admin", "vm1");
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.refusal().code, RefusalCode::NotFound);
}

TEST_F(EngineTest, NarrowingAPolicyRevokesGrantsItWouldNotGive) {
  addTarget("vm1");
  enable("vm1", {PortRule{22, "tcp", {Cidr::any()}, 3h}});
  auto inside = grant("alice", "vm1", 22, "10.1.0.0/16", 1h);
  auto outside = grant("bob", "vm1", 22, "203.0.113.0/24", 1h);
  auto longer = grant("carol", "vm1", 22, "10.2.0.0/16", 2h);
  ASSERT_TRUE(inside.ok() && outside.ok() && longer.ok());
  enable("vm1", {PortRule{22, "tcp", {cidr("10.0.0.0/8")}, 90min}});
  std::set<std::string> ended;
  for (const auto& e : ended_) ended.insert(e.grant.id);
  EXPECT_EQ(ended, (std::set<std::string>{outside->id, longer->id}));
  EXPECT_TRUE(engine_->decide("alice", "vm1", 22, ip("10.1.0.1")).allowed);
  EXPECT_FALSE(engine_->decide("bob", "vm1", 22, ip("203.0.113.9")).allowed);
  EXPECT_FALSE(engine_->decide("carol", "vm1", 22, ip("10.2.0.1")).allowed);
}

TEST_F(EngineTest, RemovingAUserRevokesTheirGrants) {
  addTarget("vm1");
  enable("vm1");
  User u;
  u.name = "alice";
  u.keys.push_back(
      parseSshPublicKey(
          "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKnqMwq1wQ6S0+7JgQ5Mx+FZoZLhPfTnLPo5eA0gEZ5V a")
          .value());
  ASSERT_TRUE(engine_->addUser("root", u).ok());
  ASSERT_TRUE(grant("alice", "vm1", 22, "10.0.0.0/8", 1h).ok());
  ASSERT_TRUE(grant("bob", "vm1", 22, "10.0.0.0/8", 1h).ok());
  ASSERT_TRUE(engine_->removeUser("root", "alice").ok());
  EXPECT_FALSE(engine_->decide("alice", "vm1", 22, ip("10.0.0.1")).allowed);
  EXPECT_TRUE(engine_->decide("bob", "vm1", 22, ip("10.0.0.1")).allowed);
  ASSERT_EQ(ended_.size(), 1u);
  EXPECT_EQ(ended_[0].grant.user, "alice");
  // The same key cannot then be registered to two people.
  u.name = "bob";
  ASSERT_TRUE(engine_->addUser("root", u).ok());
  u.name = "carol";
  auto twice = engine_->addUser("root", u);
  ASSERT_FALSE(twice.ok());
  EXPECT_EQ(twice.refusal().code, RefusalCode::Conflict);
  EXPECT_NE(twice.refusal().message.find("bob"), std::string::npos);
}

TEST_F(EngineTest, TargetNamesAreNotAddresses) {
  Target t;
  t.name = "10.0.0.5";
  t.address = "10.0.0.6";
  auto r = engine_->addTarget("admin", t);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.refusal().field, "name");
}

TEST_F(EngineTest, DefaultLinuxPolicyUsesTheRealSshPort) {
  Target t;
  t.name = "vm2";
  t.address = "10.0.0.7";
  t.sshPort = 2222;
  ASSERT_TRUE(engine_->addTarget("admin", t).ok());
  enable("vm2");
  EXPECT_EQ(engine_->policy("vm2").value()->ports[0].number, 2222);
}

TEST_F(EngineTest, RemovingATargetRevokesItsGrants) {
  addTarget("vm1");
  enable("vm1");
  ASSERT_TRUE(grant("alice", "vm1", 22, "10.0.0.0/8", 1h).ok());
  ASSERT_TRUE(engine_->removeTarget("admin", "vm1").ok());
  EXPECT_EQ(ended_.size(), 1u);
  EXPECT_EQ(engine_->decide("alice", "vm1", 22, ip("10.0.0.1")).reason,
            SessionRefusal::UnknownTarget);
  EXPECT_FALSE(engine_->findTarget("vm1"));
}

TEST_F(EngineTest, TargetStatesAndSummary) {
  addTarget("vm1");
  Target bad;
  bad.name = "ghost";
  bad.address = "0.0.0.0";
  ASSERT_TRUE(engine_->addTarget("admin", bad).ok());
  auto dup = engine_->addTarget("admin", bad);
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.refusal().code, RefusalCode::AlreadyExists);

  auto views = engine_->targets().value();
  ASSERT_EQ(views.size(), 2u);
  EXPECT_EQ(views[0].target.name, "ghost");
  EXPECT_EQ(views[0].state, TargetState::Unsupported);
  EXPECT_NE(views[0].reason.find("unspecified"), std::string::npos);
  EXPECT_EQ(views[1].state, TargetState::NotConfigured);
  Policy p;
  p.target = "ghost";
  auto refused = engine_->setPolicy("admin", p);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.refusal().code, RefusalCode::PolicyViolation);

  enable("vm1");
  ASSERT_TRUE(grant("alice", "vm1", 22, "10.0.0.0/8", 1h).ok());
  AuditEntry connect;
  connect.actor = "ssh-front";
  connect.action = "session.connect";
  connect.outcome = "ok";
  connect.target = "vm1";
  connect.user = "alice";
  connect.source = "10.0.0.1";
  ASSERT_TRUE(engine_->record(connect).ok());
  auto v = engine_->targetView("vm1").value();
  EXPECT_EQ(v.state, TargetState::Configured);
  EXPECT_EQ(v.approvedLast7Days, 1);
  ASSERT_TRUE(v.lastAccess.has_value());
  EXPECT_EQ(v.lastUser, "alice");
  EXPECT_EQ(v.lastSource, "10.0.0.1");
}

TEST_F(EngineTest, DefaultPolicyFollowsTheOs) {
  addTarget("win1", TargetOs::Windows);
  enable("win1");
  auto p = engine_->policy("win1").value();
  ASSERT_TRUE(p);
  ASSERT_EQ(p->ports.size(), 1u);
  EXPECT_EQ(p->ports[0].number, 3389);
  EXPECT_EQ(p->ports[0].maxDuration, Seconds(3h));
  EXPECT_TRUE(p->ports[0].allowedSources[0].isAny());
}

TEST_F(EngineTest, EveryChangeIsAudited) {
  addTarget("vm1");
  enable("vm1");
  auto g = grant("alice", "vm1", 22, "10.0.0.0/8", 1h);
  ASSERT_TRUE(engine_->revoke("root", g->id).ok());
  std::vector<std::string> actions;
  for (const auto& e : store_->audit({}).value()) actions.push_back(e.action);
  EXPECT_EQ(actions, (std::vector<std::string>{"target.add", "policy.enable", "grant.create",
                                               "grant.revoke"}));
}

// Three targets at one address (the fixture's 10.0.0.5): a client naming
// the address gets the one whose grant covers it, or is refused with every
// candidate named.
TEST_F(EngineTest, AnAddressSharedByTargetsResolvesToTheCoveredOne) {
  for (const char* n : {"vm1", "win2", "win3"}) {
    addTarget(n);
    enable(n, {PortRule{22, "tcp", {Cidr::any()}, 3h}, PortRule{3389, "tcp", {Cidr::any()}, 3h}});
  }
  EXPECT_EQ(engine_->sharingAddress(engine_->findTarget("win2").value()),
            (std::vector<std::string>{"vm1", "win3"}));
  ASSERT_TRUE(grant("alice", "vm1", 22, "10.1.0.0/16", 1h).ok());
  ASSERT_TRUE(grant("alice", "win2", 3389, "10.1.0.0/16", 1h).ok());

  auto c = engine_->decideAt("10.0.0.5", "alice", 22, ip("10.1.2.3"));
  ASSERT_TRUE(c.decision.allowed) << c.decision.message;
  EXPECT_EQ(c.target->name, "vm1");
  c = engine_->decideAt("10.0.0.5", "alice", 3389, ip("10.1.2.3"));
  ASSERT_TRUE(c.decision.allowed) << c.decision.message;
  EXPECT_EQ(c.target->name, "win2");
  // By name: only that target, whatever the others hold.
  c = engine_->decideAt("win3", "alice", 22, ip("10.1.2.3"));
  EXPECT_FALSE(c.decision.allowed);
  EXPECT_EQ(c.target->name, "win3");
  // No grant on any of them: every candidate named.
  c = engine_->decideAt("10.0.0.5", "bob", 22, ip("10.1.2.3"));
  EXPECT_FALSE(c.decision.allowed);
  EXPECT_FALSE(c.target);
  EXPECT_EQ(c.decision.reason, SessionRefusal::NoGrant);
  EXPECT_NE(c.decision.message.find("10.0.0.5 is the address of vm1, win2, win3"),
            std::string::npos)
      << c.decision.message;
  // Two grants cover it: ambiguous, refused.
  ASSERT_TRUE(grant("alice", "win3", 22, "10.1.0.0/16", 1h).ok());
  c = engine_->decideAt("10.0.0.5", "alice", 22, ip("10.1.2.3"));
  EXPECT_FALSE(c.decision.allowed);
  EXPECT_EQ(c.decision.reason, SessionRefusal::AmbiguousTarget);
  EXPECT_NE(c.decision.message.find("grants on vm1, win3 cover port 22"), std::string::npos)
      << c.decision.message;
  // An address nobody has.
  c = engine_->decideAt("10.0.0.6", "alice", 22, ip("10.1.2.3"));
  EXPECT_EQ(c.decision.reason, SessionRefusal::UnknownTarget);
}

}  // namespace
}  // namespace jitgate
