// The nodes registry on both backends (policy_tests and policy_tests.postgres):
// the store's node rows and the node and session of audit entries, and
// NodePresence's registration, heartbeat, lost-node rule (once, sessions
// ended node_lost), restart and duplicate-name refusal.
#include "jitgate/node_presence.hpp"

#include <gtest/gtest.h>

#include <thread>

#include "../support/postgres.hpp"
#include "../support/test_support.hpp"

namespace jitgate {
namespace {

using namespace std::chrono_literals;
using testing::TempDir;
using Millis = std::chrono::sys_time<std::chrono::milliseconds>;

Millis ms(int64_t v) { return Millis(std::chrono::milliseconds(v)); }

NodeRecord node(const std::string& name, int64_t heartbeat) {
  NodeRecord n;
  n.name = name;
  n.addresses = {"ssh 127.0.0.1:2222", "control /run/j.sock"};
  n.version = "1.2.3";
  n.startedAt = testing::at("2026-12-02T10:00:00Z");
  n.heartbeatAt = ms(heartbeat);
  return n;
}

AuditEntry sessionAudit(const std::string& action, const std::string& node,
                        const std::string& session, std::chrono::system_clock::time_point at) {
  AuditEntry e;
  e.time = std::chrono::floor<std::chrono::milliseconds>(at);
  e.actor = "alice";
  e.action = action;
  e.outcome = "ok";
  e.target = "vm1";
  e.port = 22;
  e.source = "127.0.0.1";
  e.user = "alice";
  e.grantId = "g-1";
  e.node = node;
  e.session = session;
  e.detail = "front=ssh session=" + session;
  return e;
}

std::vector<AuditEntry> audited(Store& s, const std::string& action) {
  std::vector<AuditEntry> out;
  for (auto& e : s.audit({}).value())
    if (e.action == action) out.push_back(e);
  return out;
}

TEST(StoreTest, NodesRegisterHeartbeatAndAreMarkedLostOnce) {
  TempDir dir;
  auto store = testing::openTestStore(dir);
  ASSERT_TRUE(store->registerNode(node("a", 1000)).ok());
  ASSERT_TRUE(store->registerNode(node("b", 1000)).ok());
  EXPECT_TRUE(store->heartbeatNode("a", ms(2000)).value());
  EXPECT_FALSE(store->heartbeatNode("nobody", ms(2000)).value());
  auto all = store->nodes().value();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].name, "a");
  EXPECT_EQ(all[0].heartbeatAt, ms(2000));
  EXPECT_EQ(all[0].addresses, node("a", 0).addresses);
  EXPECT_EQ(all[0].version, "1.2.3");
  EXPECT_EQ(all[0].startedAt, testing::at("2026-12-02T10:00:00Z"));
  EXPECT_EQ(all[0].state, NodeState::Up);
  EXPECT_FALSE(all[0].lostAt.has_value());

  auto at = testing::at("2026-12-02T10:05:00Z");
  // Only the heartbeat the caller saw go silent: b moved meanwhile.
  EXPECT_FALSE(store->markNodeLost("b", ms(999), at, "a").value());
  EXPECT_TRUE(store->markNodeLost("b", ms(1000), at, "a").value());
  EXPECT_FALSE(store->markNodeLost("b", ms(1000), at, "c").value()) << "marked twice";
  auto b = store->nodes().value()[1];
  EXPECT_EQ(b.state, NodeState::Lost);
  EXPECT_EQ(b.lostBy, "a");
  EXPECT_EQ(b.lostAt, at);
  // A lost node's heartbeat does not bring it back; registering does.
  EXPECT_FALSE(store->heartbeatNode("b", ms(3000)).value());
  ASSERT_TRUE(store->registerNode(node("b", 4000)).ok());
  b = store->nodes().value()[1];
  EXPECT_EQ(b.state, NodeState::Up);
  EXPECT_EQ(b.lostBy, "");
  EXPECT_EQ(b.heartbeatAt, ms(4000));
}

TEST(StoreTest, AuditEntriesNameTheirNodeAndOpenSessionsAreFound) {
  TempDir dir;
  auto store = testing::openTestStore(dir);
  store->nameNode("a");
  auto t0 = testing::at("2026-12-02T10:00:00Z");
  auto plain = sessionAudit("grant.create", "", "", t0);
  ASSERT_TRUE(store->appendAudit(plain).ok());
  ASSERT_TRUE(store->appendAudit(sessionAudit("session.connect", "", "s-1", t0)).ok());
  ASSERT_TRUE(store->appendAudit(sessionAudit("session.connect", "", "s-2", t0 + 1s)).ok());
  ASSERT_TRUE(store->appendAudit(sessionAudit("session.disconnect", "", "s-1", t0 + 2s)).ok());
  ASSERT_TRUE(store->appendAudit(sessionAudit("session.connect", "b", "s-3", t0)).ok());
  auto all = store->audit({}).value();
  ASSERT_EQ(all.size(), 5u);
  EXPECT_EQ(all[0].node, "a") << "the store names its node";
  EXPECT_EQ(all[1].session, "s-1");
  EXPECT_EQ(all[4].node, "b") << "an entry naming another node keeps it";
  auto open = store->openSessions("a", SysTime{}).value();
  ASSERT_EQ(open.size(), 1u);
  EXPECT_EQ(open[0].session, "s-2");
  EXPECT_EQ(open[0].target, "vm1");
  EXPECT_TRUE(store->openSessions("a", t0 + 2s).value().empty()) << "since is honoured";
  ASSERT_EQ(store->openSessions("b", SysTime{}).value().size(), 1u);
}

class NodePresenceTest : public ::testing::Test {
 protected:
  NodeOptions options(const std::string& name) {
    NodeOptions o;
    o.name = name;
    o.addresses = {"ssh 127.0.0.1:22"};
    o.version = "test";
    o.lostAfter = 400ms;
    o.heartbeat = 100ms;
    return o;
  }
  TempDir dir_;
  std::unique_ptr<Store> store_ = testing::openTestStore(dir_);
  boost::asio::io_context io_;
  SystemClock clock_;
};

TEST_F(NodePresenceTest, RegistersItselfAndHeartbeatsOnTheLoop) {
  NodePresence a(io_, *store_, clock_, options("a"));
  ASSERT_TRUE(a.start().ok());
  auto first = store_->nodes().value();
  ASSERT_EQ(first.size(), 1u) << "on one node's store it lists itself";
  EXPECT_EQ(first[0].name, "a");
  EXPECT_EQ(first[0].addresses, std::vector<std::string>{"ssh 127.0.0.1:22"});
  io_.run_for(350ms);
  auto later = store_->nodes().value();
  EXPECT_GT(later[0].heartbeatAt, first[0].heartbeatAt);
  EXPECT_EQ(audited(*store_, "node.start").size(), 1u);
  EXPECT_EQ(audited(*store_, "node.start")[0].node, "a");
}

TEST_F(NodePresenceTest, ASilentNodeIsMarkedLostOnceAndItsSessionsEndNodeLost) {
  NodePresence b(io_, *store_, clock_, options("b"));
  ASSERT_TRUE(b.start().ok());
  auto now = clock_.now();
  ASSERT_TRUE(store_->appendAudit(sessionAudit("session.connect", "b", "s-1", now)).ok());
  ASSERT_TRUE(store_->appendAudit(sessionAudit("session.connect", "b", "s-2", now)).ok());
  ASSERT_TRUE(store_->appendAudit(sessionAudit("session.disconnect", "b", "s-2", now)).ok());
  b.stop();  // b falls silent (as kill -9 would leave it)

  boost::asio::io_context other;
  NodePresence a(io_, *store_, clock_, options("a"));
  NodePresence c(other, *store_, clock_, options("c"));
  ASSERT_TRUE(a.start().ok());
  ASSERT_TRUE(c.start().ok());
  a.stop();  // ticked by hand below
  c.stop();
  a.tick();
  c.tick();
  std::this_thread::sleep_for(200ms);
  a.tick();
  c.tick();
  EXPECT_EQ(store_->nodes().value()[1].state, NodeState::Up) << "not silent long enough";
  std::this_thread::sleep_for(300ms);
  a.tick();
  c.tick();  // both saw it silent: one marks it
  auto nodes = store_->nodes().value();
  ASSERT_EQ(nodes.size(), 3u);
  EXPECT_EQ(nodes[1].name, "b");
  EXPECT_EQ(nodes[1].state, NodeState::Lost);
  EXPECT_EQ(nodes[1].lostBy, "a");
  EXPECT_EQ(nodes[0].state, NodeState::Up);
  EXPECT_EQ(audited(*store_, "node.lost").size(), 1u);
  auto ends = audited(*store_, "session.disconnect");
  ASSERT_EQ(ends.size(), 2u);
  EXPECT_EQ(ends[1].session, "s-1");
  EXPECT_EQ(ends[1].node, "b");
  EXPECT_EQ(ends[1].grantId, "g-1");
  EXPECT_NE(ends[1].detail.find("front=ssh reason=node_lost session=s-1"), std::string::npos)
      << ends[1].detail;
  EXPECT_TRUE(store_->openSessions("b", SysTime{}).value().empty());

  // b restarts: it rejoins, with nothing more to end.
  NodePresence again(io_, *store_, clock_, options("b"));
  ASSERT_TRUE(again.start().ok());
  EXPECT_EQ(store_->nodes().value()[1].state, NodeState::Up);
  EXPECT_EQ(audited(*store_, "node.rejoin").size(), 1u);
  EXPECT_EQ(audited(*store_, "session.disconnect").size(), 2u);
}

TEST_F(NodePresenceTest, ARestartEndsWhatItsPreviousRunLeftOpen) {
  {
    NodePresence b(io_, *store_, clock_, options("b"));
    ASSERT_TRUE(b.start().ok());
    ASSERT_TRUE(
        store_->appendAudit(sessionAudit("session.connect", "b", "s-9", clock_.now())).ok());
  }  // killed: no more heartbeats, its session still open
  NodePresence b(io_, *store_, clock_, options("b"));
  ASSERT_TRUE(b.start().ok());
  auto ends = audited(*store_, "session.disconnect");
  ASSERT_EQ(ends.size(), 1u);
  EXPECT_EQ(ends[0].session, "s-9");
  EXPECT_NE(ends[0].detail.find("reason=node_lost"), std::string::npos);
  EXPECT_NE(ends[0].detail.find("restarted"), std::string::npos);
}

TEST_F(NodePresenceTest, RefusesTheNameOfANodeThatStillRuns) {
  NodePresence first(io_, *store_, clock_, options("b"));
  ASSERT_TRUE(first.start().ok());
  std::thread loop([&] { io_.run_for(1500ms); });
  boost::asio::io_context other;
  NodePresence second(other, *store_, clock_, options("b"));
  auto st = second.start();
  loop.join();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.refusal().code, RefusalCode::Conflict);
  EXPECT_NE(st.refusal().message.find("another jitgated named b is running"), std::string::npos);
}

TEST(NodeHeartbeat, IsAThirdOfLostAfterWithinBounds) {
  EXPECT_EQ(heartbeatFor(30s), 5000ms);
  EXPECT_EQ(heartbeatFor(3s), 1000ms);
  EXPECT_EQ(heartbeatFor(150ms), 100ms);
}

}  // namespace
}  // namespace jitgate
