// The PostgreSQL store against a real PostgreSQL 15: migrations under the
// advisory lock, a newer schema refused, durability across a server crash,
// an unreachable server refused as store_unavailable and reconnected, the
// change log and its notifications, connection strings and their passwords.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <future>
#include <thread>

#include "../../policy/src/pg_conn.hpp"
#include "../support/postgres.hpp"
#include "../support/refusals.hpp"
#include "jitgate/store.hpp"

namespace jitgate {
namespace {

using namespace std::chrono_literals;
using testing::PostgresCluster;

Grant sampleGrant(const std::string& id) {
  Grant g;
  g.id = id;
  g.user = "alice";
  g.target = "vm1";
  g.port = 22;
  g.source = Cidr::parse("10.0.0.0/8").value();
  g.start = testing::at("2026-11-23T12:00:00Z");
  g.end = g.start + 1h;
  g.requestedBy = "root";
  g.approvedBy = "root";
  return g;
}

std::string freshDatabase(const PostgresCluster& c) {
  static int n = 0;
  std::string name = "pg_test_" + std::to_string(::getpid()) + "_" + std::to_string(++n);
  c.createDatabase(name);
  return name;
}

// Polls `f` until it holds, for at most `limit` (a bound, not a goal).
template <class F>
bool eventually(F f, std::chrono::milliseconds limit = 15s) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (f()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return f();
}

TEST(PgStoreTest, MigratesAFreshDatabaseToTheLatestVersion) {
  auto& c = PostgresCluster::shared();
  auto db = freshDatabase(c);
  auto store = openPostgresStore(c.url(db));
  ASSERT_TRUE(store.ok()) << store.refusal().describe();
  EXPECT_EQ(c.sql(db, "SELECT version FROM jitgate_schema"),
            std::to_string(pg::latestSchemaVersion()));
  // The columns SQLite has, with the policy's minimum prefixes.
  EXPECT_EQ(c.sql(db,
                  "SELECT count(*) FROM information_schema.columns WHERE table_name='policies' "
                  "AND column_name IN ('min_request_prefix_v4','min_request_prefix_v6')"),
            "2");
  // Reopening migrates nothing and keeps the data.
  ASSERT_TRUE((*store)->insertGrant(sampleGrant("g-1")).ok());
  store->reset();
  auto again = openPostgresStore(c.url(db));
  ASSERT_TRUE(again.ok()) << again.refusal().describe();
  EXPECT_TRUE((*again)->grant("g-1").value().has_value());
  EXPECT_EQ(c.sql(db, "SELECT count(*) FROM jitgate_schema"), "1");
}

TEST(PgStoreTest, RefusesASchemaNewerThanItKnows) {
  auto& c = PostgresCluster::shared();
  auto db = freshDatabase(c);
  { ASSERT_TRUE(openPostgresStore(c.url(db)).ok()); }
  c.sql(db, "UPDATE jitgate_schema SET version=99");
  auto newer = openPostgresStore(c.url(db));
  ASSERT_FALSE(newer.ok());
  EXPECT_NE(newer.refusal().message.find("version 99, newer than this jitgated knows"),
            std::string::npos)
      << newer.refusal().describe();
  EXPECT_EQ(c.sql(db, "SELECT version FROM jitgate_schema"), "99") << "left as it was";
}

TEST(PgStoreTest, MigrationWaitsForTheLockAnotherNodeHolds) {
  auto& c = PostgresCluster::shared();
  auto db = freshDatabase(c);
  auto holder = pg::connect(c.url(db));
  ASSERT_TRUE(holder.ok()) << holder.refusal().describe();
  auto lockSql = std::to_string(pg::kMigrationLock);
  pg::PgResultPtr taken(
      PQexec(holder->get(), ("SELECT pg_advisory_lock(" + lockSql + ")").c_str()));
  ASSERT_TRUE(pg::succeeded(taken.get()));
  auto opening = std::async(std::launch::async, [&] { return openPostgresStore(c.url(db)); });
  // The opener is seen waiting on the advisory lock, and has not migrated.
  ASSERT_TRUE(eventually([&] {
    return c.sql(db, "SELECT count(*) FROM pg_locks WHERE locktype='advisory' AND NOT granted") ==
           "1";
  }));
  EXPECT_EQ(opening.wait_for(0ms), std::future_status::timeout);
  EXPECT_EQ(c.sql(db, "SELECT count(*) FROM pg_tables WHERE tablename='grants'"), "0");
  pg::PgResultPtr released(
      PQexec(holder->get(), ("SELECT pg_advisory_unlock(" + lockSql + ")").c_str()));
  ASSERT_TRUE(pg::succeeded(released.get()));
  auto store = opening.get();
  ASSERT_TRUE(store.ok()) << store.refusal().describe();
  EXPECT_EQ(c.sql(db, "SELECT count(*) FROM pg_tables WHERE tablename='grants'"), "1");
}

TEST(PgStoreTest, NodesStartingTogetherMigrateOnce) {
  auto& c = PostgresCluster::shared();
  auto db = freshDatabase(c);
  std::vector<std::future<Result<std::unique_ptr<Store>>>> nodes;
  for (int i = 0; i < 4; ++i)
    nodes.push_back(std::async(std::launch::async, [&] { return openPostgresStore(c.url(db)); }));
  for (auto& n : nodes) {
    auto s = n.get();
    EXPECT_TRUE(s.ok()) << s.refusal().describe();
  }
  EXPECT_EQ(c.sql(db, "SELECT version FROM jitgate_schema"),
            std::to_string(pg::latestSchemaVersion()));
  EXPECT_EQ(c.sql(db, "SELECT count(*) FROM jitgate_schema"), "1");
}

// Every transaction that returned is there after the server crashed
// (immediate shutdown: no checkpoint) and came back; the one refused is not.
TEST(PgStoreTest, CommittedWritesSurviveAServerCrash) {
  PostgresCluster c;
  auto db = freshDatabase(c);
  {
    auto store = openPostgresStore(c.url(db)).value();
    for (int i = 0; i < 50; ++i) {
      auto st = store->transaction([&]() -> Status {
        if (auto s = store->insertGrant(sampleGrant("g-" + std::to_string(i))); !s) return s;
        AuditEntry e;
        e.actor = "root";
        e.action = "grant.create";
        e.outcome = "ok";
        e.grantId = "g-" + std::to_string(i);
        if (auto a = store->appendAudit(e); !a) return a.refusal();
        return okStatus();
      });
      ASSERT_TRUE(st.ok()) << st.refusal().describe();
    }
    auto refused = store->transaction([&]() -> Status {
      EXPECT_TRUE(store->insertGrant(sampleGrant("g-rolled-back")).ok());
      return invalid("x", "changed my mind");
    });
    ASSERT_FALSE(refused.ok());
    c.stop("immediate");
  }
  c.start();
  auto store = openPostgresStore(c.url(db)).value();
  EXPECT_EQ(store->grants(false).value().size(), 50u);
  EXPECT_EQ(store->audit({}).value().size(), 50u);
  EXPECT_FALSE(store->grant("g-rolled-back").value().has_value());
  EXPECT_EQ(c.sql(db, "SHOW synchronous_commit"), "on");
}

TEST(PgStoreTest, UnreachableServerIsStoreUnavailableUntilItIsBack) {
  PostgresCluster c;
  auto db = freshDatabase(c);
  auto store = openPostgresStore(c.url(db)).value();
  ASSERT_TRUE(store->insertGrant(sampleGrant("g-1")).ok());
  EXPECT_TRUE(store->health().reachable);
  std::atomic<int> wakes{0};
  store->watch([&] { ++wakes; });

  c.stop();
  auto r = store->grant("g-1");
  EXPECT_TRUE(testing::refused(r, RefusalCode::StoreUnavailable, "store", "store_unavailable"));
  auto w = store->insertGrant(sampleGrant("g-2"));
  EXPECT_TRUE(testing::refused(w, RefusalCode::StoreUnavailable, "store", "store_unavailable"));
  ASSERT_TRUE(eventually([&] { return !store->health().reachable; }));
  auto h = store->health();
  EXPECT_EQ(h.backend, "postgresql");
  EXPECT_TRUE(h.unreachableSince.has_value());
  EXPECT_EQ(h.where.find(PostgresCluster::kPassword), std::string::npos) << h.where;
  EXPECT_EQ(h.detail.find(PostgresCluster::kPassword), std::string::npos) << h.detail;
  EXPECT_EQ(r.refusal().message.find(PostgresCluster::kPassword), std::string::npos);

  c.start();
  // Back without reopening: the watcher reconnects with backoff and says so.
  ASSERT_TRUE(eventually([&] { return store->health().reachable && wakes > 0; }));
  ASSERT_TRUE(eventually([&] { return store->grant("g-1").ok(); }));
  EXPECT_TRUE(store->insertGrant(sampleGrant("g-2")).ok());
  EXPECT_EQ(store->grants(false).value().size(), 2u);
}

TEST(PgStoreTest, OpeningAnUnreachableServerNamesItWithoutThePassword) {
  auto port = testing::pickFreePort();
  std::string url = "postgresql://jitgate:" + std::string(PostgresCluster::kPassword) +
                    "@127.0.0.1:" + std::to_string(port) + "/jitgate";
  auto s = openPostgresStore(url);
  ASSERT_TRUE(testing::refused(s, RefusalCode::StoreUnavailable, "store", "store_unavailable"));
  EXPECT_NE(s.refusal().message.find("127.0.0.1"), std::string::npos) << s.refusal().message;
  EXPECT_EQ(s.refusal().message.find(PostgresCluster::kPassword), std::string::npos)
      << s.refusal().message;
}

TEST(PgStoreTest, ConnectionStringsAreCheckedAndShownWithoutPasswords) {
  EXPECT_TRUE(checkPostgresUrl("postgresql://u:p@db.example.org:5432/jitgate", "f").ok());
  EXPECT_TRUE(checkPostgresUrl("host=db.example.org dbname=jitgate password='a b'", "f").ok());
  EXPECT_TRUE(checkPostgresUrl("postgresql://", "f").ok()) << "all from PG* variables";
  EXPECT_TRUE(testing::refused(checkPostgresUrl("/var/lib/jitgate/jitgate.db", "f"),
                               RefusalCode::InvalidArgument, "f", "postgresql://"));
  EXPECT_TRUE(testing::refused(checkPostgresUrl("postgresql://h/db?nonsense=1", "f"),
                               RefusalCode::InvalidArgument, "f", "not a valid"));
  EXPECT_TRUE(testing::refused(checkPostgresUrl("host=h bogus=hunter2", "f"),
                               RefusalCode::InvalidArgument, "f"));
  EXPECT_EQ(redactPostgresUrl("postgresql://u:hunter2@h:5432/db"), "postgresql://u:***@h:5432/db");
  EXPECT_EQ(redactPostgresUrl("postgresql://u@h/db?password=hunter2&sslmode=require"),
            "postgresql://u@h/db?password=***&sslmode=require");
  EXPECT_EQ(redactPostgresUrl("host=h password='hun ter2' dbname=db"),
            "host=h password='***' dbname=db");
  EXPECT_EQ(redactPostgresUrl("host=h password=hunter2"), "host=h password=***");
  EXPECT_EQ(redactPostgresUrl("postgresql://h/db"), "postgresql://h/db");
}

TEST(PgStoreTest, PgVariablesFillInWhatTheUrlLeavesOut) {
  auto& c = PostgresCluster::shared();
  auto db = freshDatabase(c);
  ::setenv("PGPASSWORD", PostgresCluster::kPassword, 1);
  ::setenv("PGDATABASE", db.c_str(), 1);
  {
    auto s =
        openPostgresStore("host=127.0.0.1 port=" + std::to_string(c.port()) + " user=postgres");
    ASSERT_TRUE(s.ok()) << s.refusal().describe();
    EXPECT_EQ(c.sql(db, "SELECT count(*) FROM pg_tables WHERE tablename='changes'"), "1");
    EXPECT_TRUE((*s)->health().reachable);
  }
  ::unsetenv("PGPASSWORD");
  ::unsetenv("PGDATABASE");
}

// What one node commits reaches another's change log, in commit order, and
// wakes it; a transaction that rolled back left no change behind.
TEST(PgStoreTest, ChangesAreLoggedInOrderAndNotified) {
  auto& c = PostgresCluster::shared();
  auto db = freshDatabase(c);
  auto a = openPostgresStore(c.url(db)).value();
  auto b = openPostgresStore(c.url(db)).value();
  std::mutex mu;
  std::condition_variable cv;
  int wakes = 0;
  b->watch([&] {
    std::lock_guard lock(mu);
    ++wakes;
    cv.notify_all();
  });
  auto before = b->lastChange().value();
  ASSERT_TRUE(a->insertGrant(sampleGrant("g-1")).ok());
  Target t;
  t.name = "vm1";
  t.address = "10.0.0.5";
  ASSERT_TRUE(a->insertTarget(t).ok());
  ASSERT_FALSE(a->transaction([&]() -> Status {
                  EXPECT_TRUE(a->insertGrant(sampleGrant("g-gone")).ok());
                  return invalid("x", "no");
                }).ok());
  auto g = sampleGrant("g-1");
  g.state = GrantState::Revoked;
  g.revokedAt = g.start + 1min;
  ASSERT_TRUE(a->updateGrant(g).ok());
  {
    std::unique_lock lock(mu);
    EXPECT_TRUE(cv.wait_for(lock, 10s, [&] { return wakes > 0; })) << "no notification";
  }
  auto changes = b->changesSince(before, 100).value();
  ASSERT_EQ(changes.size(), 3u);
  EXPECT_EQ(changes[0].kind, "grant");
  EXPECT_EQ(changes[0].key, "g-1");
  EXPECT_EQ(changes[1].kind, "target");
  EXPECT_EQ(changes[1].key, "vm1");
  EXPECT_EQ(changes[2].kind, "grant");
  EXPECT_LT(changes[0].seq, changes[1].seq);
  EXPECT_LT(changes[1].seq, changes[2].seq);
  EXPECT_EQ(b->lastChange().value(), changes[2].seq);
  EXPECT_EQ(b->changesSince(changes[2].seq, 100).value().size(), 0u);
}

}  // namespace
}  // namespace jitgate
