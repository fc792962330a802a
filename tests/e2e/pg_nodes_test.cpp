// The real jitgated on a real PostgreSQL (tests/support/postgres.hpp):
// chosen by --store or [store] url, what it commits survives kill -9 and a
// restart, a bad or unreachable store is refused at start without echoing
// the password; a node that ran on SQLite moves to PostgreSQL with
// --copy-store-to and finds everything there.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <boost/json.hpp>
#include <fstream>

#include "../support/postgres.hpp"
#include "../support/process.hpp"
#include "../support/test_support.hpp"

namespace jitgate {
namespace {

namespace json = boost::json;
using testing::Daemon;
using testing::PostgresCluster;
using testing::RunResult;
using testing::TempDir;

class PgNodeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = "e2e_" + dir_.path().substr(dir_.path().rfind('.') + 1);
    cluster().createDatabase(db_);
  }
  PostgresCluster& cluster() { return PostgresCluster::shared(); }

  // Node `n`: its own state directory and socket, the shared database.
  std::unique_ptr<Daemon> startNode(int n, std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"--state-dir", dir_ / ("state" + std::to_string(n)),
                                  "--control-socket", socket(n)};
    bool chosen = std::find(extra.begin(), extra.end(), "--config") != extra.end() ||
                  std::find(extra.begin(), extra.end(), "--store") != extra.end();
    if (!chosen) args.insert(args.end(), {"--store", cluster().url(db_)});
    args.insert(args.end(), extra.begin(), extra.end());
    return std::make_unique<Daemon>(JITGATED_BIN, args,
                                    dir_ / ("node" + std::to_string(n) + ".log"));
  }
  std::string socket(int n) { return dir_ / ("c" + std::to_string(n) + ".sock"); }

  RunResult jitctl(int n, std::vector<std::string> args) {
    args.insert(args.begin(), {JITCTL_BIN, "--socket", socket(n)});
    return testing::run(args, dir_.path());
  }

  TempDir dir_;
  std::string db_;
};

TEST_F(PgNodeTest, StoreFlagCommitsToPostgresAndSurvivesKill9) {
  auto node = startNode(1);
  ASSERT_TRUE(node->waitReady()) << node->log();
  ASSERT_EQ(jitctl(1, {"target", "add", "vm1", "--address", "10.0.0.5", "--os", "linux"}).exitCode,
            0);
  ASSERT_EQ(jitctl(1, {"policy", "enable", "vm1", "--port", "22", "--from", "10.0.0.0/8"}).exitCode,
            0);
  auto g =
      jitctl(1, {"grant", "alice", "vm1", "--port", "22", "--from", "10.1.0.0/16", "--for", "1h"});
  ASSERT_EQ(g.exitCode, 0) << g.err;
  std::string id = g.out.substr(0, g.out.find('\n'));
  EXPECT_EQ(cluster().sql(db_, "SELECT state FROM grants WHERE id='" + id + "'"), "active");
  EXPECT_EQ(node->log().find(PostgresCluster::kPassword), std::string::npos) << node->log();
  node->kill9();

  node = startNode(1);
  ASSERT_TRUE(node->waitReady()) << node->log();
  auto grants = jitctl(1, {"--json", "grants", "--active"});
  ASSERT_EQ(grants.exitCode, 0) << grants.err;
  EXPECT_NE(grants.out.find(id), std::string::npos) << grants.out;
  EXPECT_EQ(cluster().sql(db_, "SELECT count(*) FROM audit WHERE action='grant.create'"), "1");
}

TEST_F(PgNodeTest, ConfigFileChoosesTheStore) {
  std::string conf = dir_ / "jitgated.toml";
  std::ofstream(conf) << "[store]\nurl = \"" << cluster().url(db_) << "\"\ngrace = \"30s\"\n";
  ::chmod(conf.c_str(), 0600);
  auto check = testing::run({JITGATED_BIN, "--check-config", conf}, dir_.path());
  EXPECT_EQ(check.exitCode, 0) << check.err;
  EXPECT_NE(check.out.find("postgres:***@127.0.0.1"), std::string::npos) << check.out;
  EXPECT_EQ(check.out.find(PostgresCluster::kPassword), std::string::npos) << check.out;
  auto node = startNode(1, {"--config", conf});
  ASSERT_TRUE(node->waitReady()) << node->log();
  ASSERT_EQ(jitctl(1, {"target", "add", "vm9", "--address", "10.0.0.9", "--os", "linux"}).exitCode,
            0);
  EXPECT_EQ(cluster().sql(db_, "SELECT address FROM targets WHERE name='vm9'"), "10.0.0.9");
}

TEST_F(PgNodeTest, BadOrUnreachableStoresAreRefusedAtStart) {
  auto bad = startNode(1, {"--store", "/var/lib/jitgate/jitgate.db"});
  EXPECT_EQ(bad->waitExit(), 1);
  EXPECT_NE(bad->log().find("--store: must be a postgresql:// URI"), std::string::npos)
      << bad->log();
  std::string gone = "postgresql://postgres:" + std::string(PostgresCluster::kPassword) +
                     "@127.0.0.1:" + std::to_string(testing::pickFreePort()) + "/x";
  auto down = startNode(2, {"--store", gone});
  EXPECT_EQ(down->waitExit(), 1);
  EXPECT_NE(down->log().find("store_unavailable"), std::string::npos) << down->log();
  EXPECT_EQ(down->log().find(PostgresCluster::kPassword), std::string::npos) << down->log();
}

TEST_F(PgNodeTest, SqliteNodeMovesToPostgresWithCopyStoreTo) {
  std::string state = dir_ / "state1";
  auto sqlite = std::make_unique<Daemon>(
      JITGATED_BIN, std::vector<std::string>{"--state-dir", state, "--control-socket", socket(1)},
      dir_ / "sqlite.log");
  ASSERT_TRUE(sqlite->waitReady()) << sqlite->log();
  ASSERT_EQ(jitctl(1, {"target", "add", "vm1", "--address", "10.0.0.5", "--os", "linux"}).exitCode,
            0);
  ASSERT_EQ(jitctl(1, {"policy", "enable", "vm1", "--port", "22"}).exitCode, 0);
  auto g =
      jitctl(1, {"grant", "alice", "vm1", "--port", "22", "--from", "10.1.0.0/16", "--for", "1h"});
  ASSERT_EQ(g.exitCode, 0) << g.err;
  std::string id = g.out.substr(0, g.out.find('\n'));
  std::string url = cluster().url(db_);
  auto copy = [&] {
    return testing::run({JITGATED_BIN, "--state-dir", state, "--copy-store-to", url}, dir_.path());
  };

  // Not while the node runs on it.
  auto busy = copy();
  EXPECT_EQ(busy.exitCode, 1);
  EXPECT_NE(busy.err.find("a jitgated is using it"), std::string::npos) << busy.err;
  EXPECT_EQ(cluster().sql(db_, "SELECT count(*) FROM pg_tables WHERE schemaname='public'"), "0");
  sqlite->stop();

  auto done = copy();
  ASSERT_EQ(done.exitCode, 0) << done.err;
  EXPECT_NE(done.out.find("grants        1\n"), std::string::npos) << done.out;
  EXPECT_NE(done.out.find("targets       1\n"), std::string::npos) << done.out;
  EXPECT_NE(done.out.find("postgres:***@127.0.0.1"), std::string::npos) << done.out;
  EXPECT_EQ((done.out + done.err).find(PostgresCluster::kPassword), std::string::npos);
  // Once: the database is no longer empty.
  auto again = copy();
  EXPECT_EQ(again.exitCode, 1);
  EXPECT_NE(again.err.find("already holds jitgate data"), std::string::npos) << again.err;

  // The same node on PostgreSQL: its grant, its audit, one copy recorded.
  auto pg = startNode(1);  // the same state directory, with --store
  ASSERT_TRUE(pg->waitReady()) << pg->log();
  auto grants = jitctl(1, {"--json", "grants", "--active"});
  ASSERT_EQ(grants.exitCode, 0) << grants.err;
  EXPECT_NE(grants.out.find(id), std::string::npos) << grants.out;
  EXPECT_EQ(cluster().sql(db_, "SELECT count(*) FROM audit WHERE action='grant.create'"), "1");
  EXPECT_EQ(cluster().sql(db_, "SELECT count(*) FROM audit WHERE action='store.copy'"), "1");
}

}  // namespace
}  // namespace jitgate
