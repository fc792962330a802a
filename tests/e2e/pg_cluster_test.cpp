// Three real jitgated nodes on one real PostgreSQL, the real ssh client and a
// real sshd as the target: a grant on A lets a connection through B within a
// second, a revoke on C cuts the session on B within a second, a short window
// cuts sessions on all three, and with PostgreSQL stopped a node refuses with
// store_unavailable, cuts live sessions after the grace, and serves again
// when it is back, without a restart; a node killed with -9 during traffic
// loses nothing acknowledged, is marked lost by the others with its sessions
// ended node_lost, and rejoins when it restarts.
#include <atomic>
#include <boost/json.hpp>
#include <filesystem>
#include <thread>

#include "../support/postgres.hpp"
#include "ssh_bastion_fixture.hpp"

namespace jitgate {
namespace {

namespace json = boost::json;
using testing::PostgresCluster;

constexpr int kNodes = 3;

class PgClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = testing::sshdUnavailableReason(); !why.empty()) GTEST_SKIP() << why;
    ::chmod(dir_.path().c_str(), 0755);
    db_ = "cluster_" + dir_.path().substr(dir_.path().rfind('.') + 1);
    PostgresCluster::shared().createDatabase(db_);
    url_ = PostgresCluster::shared().url(db_);
    user_ = std::make_unique<testing::UnixLoginUser>();
    ASSERT_EQ(
        testing::run({testing::kSshKeygenPath, "-q", "-t", "ed25519", "-N", "", "-f", dir_ / "id"},
                     dir_.path())
            .exitCode,
        0);
    std::ofstream(dir_ / "ssh_config")
        << "Host *\n  IdentityFile " << (dir_ / "id") << "\n  IdentitiesOnly yes\n"
        << "  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  BatchMode yes\n"
        << "  ConnectTimeout 5\n";
  }

  void TearDown() override {
    for (auto& n : nodes_)
      if (n) n->stop();
  }

  std::string state(int n) { return dir_ / ("state" + std::to_string(n)); }
  std::string socket(int n) { return dir_ / ("c" + std::to_string(n) + ".sock"); }

  void startNode(int n, std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"--state-dir", state(n),      "--control-socket",
                                  socket(n),     "--node-name", "node" + std::to_string(n)};
    if (std::find(extra.begin(), extra.end(), "--config") == extra.end())
      args.insert(args.end(), {"--store", url_});
    args.insert(args.end(), extra.begin(), extra.end());
    nodes_[n].reset();
    nodes_[n] = std::make_unique<Daemon>(JITGATED_BIN, args, dir_ / ("node" + std::to_string(n)));
    ASSERT_TRUE(nodes_[n]->waitReady()) << nodes_[n]->log();
    sshPort_[n] = portFromLog(nodes_[n]->log(), "ssh");
    ASSERT_GT(sshPort_[n], 0) << nodes_[n]->log();
  }

  // One CA for the cluster: the first node makes the keys, the others are
  // provisioned with a copy of its ca directory (docs/SCALE_OUT.md).
  void provisionCa(int from, int to) {
    namespace fs = std::filesystem;
    fs::create_directories(state(to));
    fs::permissions(state(to), fs::perms::owner_all);
    fs::copy(state(from) + "/ca", state(to) + "/ca", fs::copy_options::recursive);
    fs::permissions(state(to) + "/ca", fs::perms::owner_all);
  }

  // Node 0 first, then the others with its CA; the target, its policy and
  // the user enrolled through node 0.
  void startCluster(int count, std::vector<std::string> extra = {}) {
    startNode(0, extra);
    for (int n = 1; n < count; ++n) {
      provisionCa(0, n);
      startNode(n, extra);
    }
    testing::SshdOptions opts;
    opts.trustedUserCaKeys = out(0, {"ca", "export", "--ssh"}) + "\n";
    sshd_ = std::make_unique<testing::Sshd>(opts);
    targetPort_ = std::to_string(sshd_->port());
    out(0, {"target", "add", "vm1", "--address", "127.0.0.1", "--os", "linux", "--ssh-port",
            targetPort_});
    out(0, {"policy", "enable", "vm1", "--port", targetPort_});
    out(0, {"user", "add", user_->name(), "--key", dir_ / "id.pub"});
  }

  RunResult jitctl(int n, std::vector<std::string> args) {
    args.insert(args.begin(), {JITCTL_BIN, "--socket", socket(n)});
    return testing::run(args, dir_.path());
  }
  std::string out(int n, std::vector<std::string> args) {
    auto r = jitctl(n, std::move(args));
    EXPECT_EQ(r.exitCode, 0) << r.err;
    while (!r.out.empty() && r.out.back() == '\n') r.out.pop_back();
    return r.out;
  }
  std::string grant(int n, const std::string& duration) {
    return out(n, {"grant", user_->name(), "vm1", "--port", targetPort_, "--from", "127.0.0.1",
                   "--for", duration});
  }
  // Node n's answer to the fronts' question, from its memory.
  bool allows(int n) {
    auto r = testing::run({"/usr/bin/curl", "-s", "--unix-socket", socket(n),
                           "http://localhost/v1/decision?user=" + user_->name() +
                               "&target=vm1&port=" + targetPort_ + "&source=127.0.0.1"},
                          dir_.path());
    return r.out.find("\"allowed\":true") != std::string::npos;
  }
  std::vector<std::string> sshVia(int n, const std::string& command) {
    return {testing::kSshPath,
            "-F",
            dir_ / "ssh_config",
            "-p",
            std::to_string(sshPort_[n]),
            user_->name() + "@vm1@127.0.0.1",
            command};
  }
  // A session through node n that runs until it is cut; true once it runs.
  std::unique_ptr<Background> session(int n, const std::string& name) {
    auto b = std::make_unique<Background>(sshVia(n, "echo started; sleep 60; echo not-cut"),
                                          dir_ / (name + ".out"), dir_ / (name + ".err"));
    for (int i = 0; i < 500 && testing::slurp(dir_ / (name + ".out")).empty(); ++i)
      std::this_thread::sleep_for(20ms);
    EXPECT_EQ(testing::slurp(dir_ / (name + ".out")), "started\n")
        << testing::slurp(dir_ / (name + ".err"));
    return b;
  }

  TempDir dir_;
  std::string db_, url_;
  std::unique_ptr<Daemon> nodes_[kNodes];
  int sshPort_[kNodes] = {};
  std::unique_ptr<testing::UnixLoginUser> user_;
  std::unique_ptr<testing::Sshd> sshd_;
  std::string targetPort_;
};

TEST_F(PgClusterTest, GrantOnAPassesThroughBAndARevokeOnCCutsItWithinASecond) {
  startCluster(3);
  auto id = grant(0, "30m");
  auto granted = std::chrono::steady_clock::now();
  while (!allows(1) && std::chrono::steady_clock::now() - granted < 5s)
    std::this_thread::sleep_for(10ms);
  auto seen = std::chrono::steady_clock::now() - granted;
  EXPECT_LT(seen, 1s) << "B let the grant through only after "
                      << std::chrono::duration_cast<std::chrono::milliseconds>(seen).count()
                      << " ms";
  auto s = session(1, "b");

  auto revoke = jitctl(2, {"--json", "revoke", id});
  auto revoked = std::chrono::steady_clock::now();
  ASSERT_EQ(revoke.exitCode, 0) << revoke.err;
  ASSERT_TRUE(s->waitExit(5s).has_value()) << "the session on B outlived the revoke on C";
  auto cut = s->exitedAt() - revoked;
  EXPECT_LT(cut, 1s) << std::chrono::duration_cast<std::chrono::milliseconds>(cut).count()
                     << " ms from the revoke on C to the cut on B";
  // Against the revoke time C recorded (to the second): not before it.
  auto v = json::parse(revoke.out);
  auto at = parseTimestamp(json::value_to<std::string>(v.at("revokedUtc")));
  ASSERT_TRUE(at.ok());
  EXPECT_LE(*at, std::chrono::system_clock::now());
  EXPECT_GT(*at + 2s, std::chrono::system_clock::now()) << "recorded long before the cut";
  EXPECT_NE(testing::slurp(dir_ / "b.err").find("(grant revoked)"), std::string::npos)
      << testing::slurp(dir_ / "b.err");
  auto audit = out(0, {"audit", "--csv"});
  EXPECT_NE(audit.find("reason=revoked"), std::string::npos) << audit;
  // And nothing passes on any node.
  for (int n = 0; n < kNodes; ++n) EXPECT_FALSE(allows(n)) << "node " << n;
}

TEST_F(PgClusterTest, AShortWindowCutsTheSessionsOnEveryNode) {
  startCluster(3);
  auto json = out(0, {"--json", "grant", user_->name(), "vm1", "--port", targetPort_, "--from",
                      "127.0.0.1", "--for", "4s"});
  auto end = parseTimestamp(json::value_to<std::string>(json::parse(json).at("endTimeUtc")));
  ASSERT_TRUE(end.ok()) << json;
  for (int n = 0; n < kNodes; ++n) {
    auto deadline = std::chrono::steady_clock::now() + 2s;
    while (!allows(n) && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(10ms);
  }
  std::vector<std::unique_ptr<Background>> sessions;
  for (int n = 0; n < kNodes; ++n) sessions.push_back(session(n, "s" + std::to_string(n)));
  for (int n = 0; n < kNodes; ++n) {
    ASSERT_TRUE(sessions[n]->waitExit(10s).has_value()) << "node " << n << " did not cut";
    auto exited = std::chrono::system_clock::now();
    EXPECT_LT(exited - *end, 1500ms) << "node " << n;
    EXPECT_NE(testing::slurp(dir_ / ("s" + std::to_string(n) + ".err")).find("(window expired)"),
              std::string::npos)
        << "node " << n;
  }
  // The expiry is recorded once, whichever node wrote it.
  EXPECT_EQ(
      PostgresCluster::shared().sql(db_, "SELECT count(*) FROM audit WHERE action='grant.expire'"),
      "1");
}

TEST_F(PgClusterTest, ANodeKilledDuringTrafficIsMarkedLostLosesNothingAndRejoins) {
  std::string conf = dir_ / "jitgated.toml";
  std::ofstream(conf) << "[store]\nurl = \"" << url_ << "\"\n[node]\nlost_after = \"3s\"\n";
  ::chmod(conf.c_str(), 0600);
  startCluster(3, {"--config", conf});
  auto nodes = json::parse(out(1, {"--json", "nodes"}));
  ASSERT_EQ(nodes.as_array().size(), 3u) << nodes;
  for (const auto& n : nodes.as_array()) EXPECT_EQ(n.at("state"), "up") << n;
  grant(0, "30m");
  for (int n = 0; n < kNodes; ++n) {
    auto deadline = std::chrono::steady_clock::now() + 2s;
    while (!allows(n) && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(10ms);
  }
  auto onC = session(2, "c");
  auto live = json::parse(out(2, {"--json", "sessions"}));
  ASSERT_EQ(live.as_array().size(), 1u) << live;
  std::string sid = json::value_to<std::string>(live.as_array()[0].at("id"));
  EXPECT_EQ(live.as_array()[0].at("node"), "node2");

  // Traffic through C: grants, each acknowledged (the id printed) or not.
  std::vector<std::string> acknowledged;
  std::atomic<bool> stop{false};
  std::thread traffic([&] {
    while (!stop) {
      auto r = jitctl(2, {"grant", user_->name(), "vm1", "--port", targetPort_, "--from",
                          "127.0.0.2", "--for", "1h"});
      if (r.exitCode == 0) acknowledged.push_back(r.out.substr(0, r.out.find('\n')));
    }
  });
  std::this_thread::sleep_for(700ms);
  nodes_[2]->kill9();
  auto killed = std::chrono::steady_clock::now();
  stop = true;
  traffic.join();
  ASSERT_FALSE(acknowledged.empty());
  EXPECT_TRUE(onC->waitExit(5s).has_value()) << "its session outlived the node";

  // The others mark it lost once lost_after (3 s) of silence has passed.
  std::string state;
  while (std::chrono::steady_clock::now() - killed < 15s) {
    auto listed = json::parse(out(0, {"--json", "nodes"}));
    for (const auto& n : listed.as_array())
      if (n.at("name") == "node2") state = json::value_to<std::string>(n.at("state"));
    if (state == "lost") break;
    std::this_thread::sleep_for(100ms);
  }
  auto markedAfter = std::chrono::steady_clock::now() - killed;
  ASSERT_EQ(state, "lost");
  EXPECT_GE(markedAfter, 2s);  // lost_after from its last heartbeat (each second)
  EXPECT_LT(markedAfter, 7s);
  auto count = [&](const std::string& where) {
    return PostgresCluster::shared().sql(db_, "SELECT count(*) FROM audit WHERE " + where);
  };
  EXPECT_EQ(count("action='node.lost' AND detail LIKE 'node=node2 %'"), "1");
  EXPECT_EQ(count("action='session.disconnect' AND node='node2' AND session='" + sid +
                  "' AND detail LIKE '%reason=node_lost%'"),
            "1");
  EXPECT_EQ(count("action='session.connect' AND node='node2' AND session='" + sid + "'"), "1");
  // Nothing acknowledged is lost: every grant C printed is in the store.
  auto grants = out(0, {"grants"});
  for (const auto& id : acknowledged) EXPECT_NE(grants.find(id), std::string::npos) << id;
  EXPECT_EQ(count("action='grant.create' AND outcome='ok' AND node='node2'"),
            PostgresCluster::shared().sql(
                db_, "SELECT count(*) FROM grants WHERE source='127.0.0.2/32'"));

  // It rejoins on restart, and serves.
  startNode(2, {"--config", conf});
  auto rejoined = json::parse(out(0, {"--json", "nodes"}));
  for (const auto& n : rejoined.as_array())
    if (n.at("name") == "node2") EXPECT_EQ(n.at("state"), "up") << n;
  EXPECT_EQ(count("action='node.rejoin' AND node='node2'"), "1");
  auto again = testing::run(sshVia(2, "echo back"), dir_.path());
  EXPECT_EQ(again.out, "back\n") << again.err;
}

// A cluster of its own, stopped in the middle.
TEST_F(PgClusterTest, WithPostgresDownNodesRefuseThenCutAfterTheGraceAndResume) {
  PostgresCluster own;
  own.createDatabase("outage");
  url_ = own.url("outage");
  std::string conf = dir_ / "jitgated.toml";
  std::ofstream(conf) << "[store]\nurl = \"" << url_ << "\"\ngrace = \"3s\"\n";
  ::chmod(conf.c_str(), 0600);
  startCluster(1, {"--config", conf});
  grant(0, "30m");
  auto s = session(0, "live");

  // From before the stop: the server is gone before pg_ctl returns.
  auto stopped = std::chrono::steady_clock::now();
  own.stop();
  // New connections: refused, with the reason.
  RunResult refused;
  for (int i = 0; i < 50; ++i) {
    refused = testing::run(sshVia(0, "echo should-not-run"), dir_.path());
    if (refused.err.find("store_unavailable") != std::string::npos) break;
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_NE(refused.exitCode, 0);
  EXPECT_NE(refused.err.find("store_unavailable"), std::string::npos) << refused.err;
  EXPECT_EQ(refused.out.find("should-not-run"), std::string::npos);
  auto g = jitctl(0, {"grant", user_->name(), "vm1", "--port", targetPort_, "--from", "127.0.0.1",
                      "--for", "1h"});
  EXPECT_NE(g.exitCode, 0);
  EXPECT_NE(g.err.find("store_unavailable"), std::string::npos) << g.err;
  auto status = jitctl(0, {"status"});
  EXPECT_EQ(status.exitCode, 0) << status.err;
  EXPECT_NE(status.out.find("UNREACHABLE"), std::string::npos) << status.out;
  EXPECT_EQ(status.out.find(PostgresCluster::kPassword), std::string::npos) << status.out;
  // The live session: kept for the grace, then cut.
  ASSERT_TRUE(s->waitExit(10s).has_value()) << "the session outlived the grace";
  auto lived = s->exitedAt() - stopped;
  EXPECT_GE(lived, 3s);
  EXPECT_LT(lived, 6s);
  EXPECT_NE(testing::slurp(dir_ / "live.err").find("(the store is unreachable)"), std::string::npos)
      << testing::slurp(dir_ / "live.err");

  own.start();
  // Back without a restart: connections pass again, and what was refused
  // meanwhile is in the audit log.
  RunResult again;
  for (int i = 0; i < 100; ++i) {
    again = testing::run(sshVia(0, "echo back"), dir_.path());
    if (again.exitCode == 0) break;
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(again.exitCode, 0) << again.err << nodes_[0]->log();
  EXPECT_EQ(again.out, "back\n");
  auto audit = out(0, {"audit", "--csv"});
  EXPECT_NE(audit.find("reason=store_unavailable"), std::string::npos) << audit;
  EXPECT_EQ(nodes_[0]->log().find(PostgresCluster::kPassword), std::string::npos);
}

}  // namespace
}  // namespace jitgate
