// jitgated --copy-store-to: a SQLite state with every kind of record, made
// through the engine and the CA, copied into a real PostgreSQL database and
// read back through the PostgreSQL store; and each refusal (a database that
// is not empty, a bad url, a state directory in use, a row PostgreSQL
// refuses: nothing committed).
#include "jitgate/store_copy.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <boost/asio/io_context.hpp>
#include <boost/json/serialize.hpp>

#include "../support/postgres.hpp"
#include "../support/test_support.hpp"
#include "jitgate/authority.hpp"
#include "jitgate/codec.hpp"
#include "jitgate/engine.hpp"

namespace jitgate {
namespace {

using namespace std::chrono_literals;
using testing::PostgresCluster;
using testing::TempDir;

constexpr const char* kAliceKey =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKnqMwq1wQ6S0+7JgQ5Mx+FZoZLhPfTnLPo5eA0gEZ5V alice@laptop";

// Everything a store answers, rendered so that two stores compare as text.
struct Everything {
  std::string targets, policies, grants, requests, users, audit, caKeys, revoked, nodes;
  size_t activeGrants = 0;
};

std::string render(const CaKeyRecord& k) {
  return std::to_string(k.id) + "|" + k.kind + "|" + k.algorithm + "|" + k.publicKey + "|" +
         k.file + "|" + std::to_string(k.createdAt.time_since_epoch().count()) + "|" +
         (k.retiredAt ? std::to_string(k.retiredAt->time_since_epoch().count()) : "-") + "\n";
}
std::string render(const IssuedCertificate& c) {
  return std::to_string(c.serial) + "|" + c.kind + "|" + c.grantId + "|" + c.user + "|" + c.keyId +
         "|" + std::to_string(c.caKeyId) + "|" +
         std::to_string(c.validAfter.time_since_epoch().count()) + "|" +
         std::to_string(c.validBefore.time_since_epoch().count()) + "|" + c.issuedBy + "|" +
         c.subjectFingerprint + "\n";
}

Everything readAll(Store& s, SysTime now) {
  Everything e;
  auto json = [](const auto& v) { return boost::json::serialize(encodeAll(v)); };
  e.targets = json(s.targets().value());
  e.policies = json(s.policies().value());
  e.grants = json(s.grants(false).value());
  e.activeGrants = s.grants(true).value().size();
  e.requests = json(s.requests().value());
  e.users = json(s.users().value());
  e.audit = json(s.audit({}).value());
  e.nodes = json(s.nodes().value());
  for (const char* kind : {"ssh", "x509"}) {
    for (const auto& k : s.caKeys(kind).value()) e.caKeys += render(k);
    for (const auto& c : s.revokedCertificates(kind, now).value()) e.revoked += render(c);
  }
  return e;
}

class StoreCopyTest : public ::testing::Test {
 protected:
  void SetUp() override { ::mkdir(state().c_str(), 0700); }

  std::string state() const { return dir_ / "state"; }
  SysTime now() const { return std::chrono::floor<Seconds>(clock_.now()); }
  // A database of the binary's cluster of its own, empty.
  std::string database(const std::string& name) {
    cluster_.createDatabase(name);
    return cluster_.url(name);
  }
  std::string tablesIn(const std::string& db) {
    return cluster_.sql(db,
                        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON "
                        "n.oid=c.relnamespace WHERE c.relkind='r' AND n.nspname='public'");
  }

  // Every kind of record, through the engine, the CA and the store, as a
  // jitgated on SQLite would have made them; answers what the store holds.
  Everything fillState() {
    auto store = openSqliteStore(state() + "/jitgate.db").value();
    store->nameNode("bastion-a");
    boost::asio::io_context io;
    GrantEngine engine(*store, clock_, io);
    EXPECT_TRUE(engine.start().ok());
    Target vm1;
    vm1.name = "vm1";
    vm1.address = "10.0.0.5";
    Target win;
    win.name = "win1";
    win.address = "10.0.0.6";
    win.os = TargetOs::Windows;
    win.winrmHttpsPort = 15986;
    EXPECT_TRUE(engine.addTarget("root", vm1).ok());
    EXPECT_TRUE(engine.addTarget("root", win).ok());
    EXPECT_TRUE(engine.addTarget("root", Target{"spare", "10.0.0.7"}).ok());
    Policy p;
    p.target = "vm1";
    p.ports = {PortRule{22, "tcp", {Cidr::any()}, 3h},
               PortRule{5986, "tcp", {Cidr::parse("10.0.0.0/8").value()}, 3h}};
    EXPECT_TRUE(engine.setPolicy("root", p).ok());
    Policy q;
    q.target = "win1";
    q.ports = {PortRule{3389, "tcp", {Cidr::any()}, 2h}};
    q.requireApproval = true;
    EXPECT_TRUE(engine.setPolicy("root", q).ok());
    User alice;
    alice.name = "alice";
    alice.keys.push_back(parseSshPublicKey(kAliceKey).value());
    EXPECT_TRUE(engine.addUser("root", alice).ok());

    auto grant = [&](const std::string& user, uint16_t port, const char* why) {
      GrantInput in;
      in.user = user;
      in.target = "vm1";
      in.port.number = port;
      in.port.source = Cidr::parse("10.1.0.0/16").value();
      in.port.duration = 1h;
      in.justification = why;
      auto g = engine.grant("root", in);
      EXPECT_TRUE(g.ok()) << g.refusal().describe();
      return g.value();
    };
    auto g1 = grant("alice", 22, "ticket 'OPS-1', ünïcödé ? $1 \\ \"quoted\"");
    auto g2 = grant("bob", 5986, "");
    auto g3 = grant("carol", 22, "to be revoked");

    AuthorityOptions o;
    o.stateDir = state();
    auto ca = CertificateAuthority::open(*store, engine, clock_, o).value();
    EXPECT_TRUE(ca->issueSsh("alice", false, g1.id, kAliceKey).ok());
    EXPECT_TRUE(ca->issueSsh("root", true, g3.id, kAliceKey).ok());
    EXPECT_TRUE(ca->issueX509("bob", false, g2.id).ok());
    EXPECT_TRUE(ca->rotateSsh("root").ok());
    EXPECT_TRUE(ca->issueSsh("alice", false, g1.id, kAliceKey).ok());
    EXPECT_TRUE(engine.revoke("root", g3.id).ok());

    RequestInput r;
    r.target = "win1";
    r.ports = {RequestedPort{3389, Cidr::parse("10.2.0.1").value(), 30min, std::nullopt}};
    r.justification = "patch night";
    auto approved = engine.request("dave", r).value();
    EXPECT_TRUE(engine.approve("root", approved.id).ok());
    auto denied = engine.request("dave", r).value();
    EXPECT_TRUE(engine.deny("root", denied.id, "not tonight").ok());
    EXPECT_TRUE(engine.request("erin", r).ok());  // stays pending

    NodeRecord n;
    n.name = "bastion-a";
    n.addresses = {"ssh 0.0.0.0:22", "control /run/jitgate/control.sock"};
    n.version = "test";
    n.startedAt = std::chrono::floor<Seconds>(clock_.now());
    n.heartbeatAt = std::chrono::floor<std::chrono::milliseconds>(clock_.now());
    EXPECT_TRUE(store->registerNode(n).ok());
    AuditEntry s;
    s.actor = "alice";
    s.action = "session.connect";
    s.outcome = "ok";
    s.target = "vm1";
    s.port = 22;
    s.source = "10.1.2.3";
    s.user = "alice";
    s.grantId = g1.id;
    s.session = "s-1";
    EXPECT_TRUE(engine.record(s).ok());
    return readAll(*store, now());
  }

  PostgresCluster& cluster_ = PostgresCluster::shared();
  TempDir dir_;
  testing::FakeClock clock_{std::chrono::floor<Seconds>(std::chrono::system_clock::now())};
};

int64_t count(const StoreCopyReport& r, const std::string& kind) {
  for (const auto& c : r.counts)
    if (c.kind == kind) return c.rows;
  return -1;
}

TEST_F(StoreCopyTest, CopiesEveryRecordAndSaysHowMany) {
  Everything before = fillState();
  std::string url = database("copy_every_record");
  auto report = copyStateDirToPostgres(state(), url);
  ASSERT_TRUE(report.ok()) << report.refusal().describe();
  EXPECT_EQ(count(*report, "targets"), 3);
  EXPECT_EQ(count(*report, "policies"), 2);
  EXPECT_EQ(count(*report, "grants"), 4);  // three made, one from the approved request
  EXPECT_EQ(count(*report, "requests"), 3);
  EXPECT_EQ(count(*report, "users"), 1);
  EXPECT_EQ(count(*report, "ca_keys"), 3);  // ssh, x509, the rotated ssh key
  EXPECT_EQ(count(*report, "certificates"), 4);
  EXPECT_EQ(count(*report, "nodes"), 1);
  EXPECT_GT(count(*report, "audit"), 15);
  EXPECT_EQ(report->auditLastSeq - report->auditFirstSeq + 1, count(*report, "audit"));
  EXPECT_EQ(report->schemaVersion, 2);
  std::string said = describeStoreCopy(*report);
  EXPECT_NE(said.find("certificates  4"), std::string::npos) << said;
  EXPECT_EQ(said.find(PostgresCluster::kPassword), std::string::npos) << said;
  EXPECT_EQ(report->to.find(PostgresCluster::kPassword), std::string::npos);

  auto pg = openPostgresStore(url).value();
  Everything after = readAll(*pg, now());
  EXPECT_EQ(after.targets, before.targets);
  EXPECT_EQ(after.policies, before.policies);
  EXPECT_EQ(after.grants, before.grants);
  EXPECT_EQ(after.activeGrants, before.activeGrants);
  EXPECT_EQ(after.requests, before.requests);
  EXPECT_EQ(after.users, before.users);
  EXPECT_EQ(after.caKeys, before.caKeys);
  EXPECT_EQ(after.revoked, before.revoked);
  EXPECT_FALSE(after.revoked.empty());
  EXPECT_EQ(after.nodes, before.nodes);
  // The audit in the same order with the same numbers, then the copy itself.
  auto audit = pg->audit({}).value();
  ASSERT_FALSE(audit.empty());
  EXPECT_EQ(audit.back().action, "store.copy");
  EXPECT_EQ(audit.back().seq, report->auditLastSeq + 1);
  EXPECT_NE(audit.back().detail.find("certificates=4"), std::string::npos);
  audit.pop_back();
  EXPECT_EQ(boost::json::serialize(encodeAll(audit)), before.audit);
  // The sequences go on after the copied numbers.
  AuditEntry next;
  next.actor = "root";
  next.action = "test.next";
  next.outcome = "ok";
  EXPECT_EQ(pg->appendAudit(next).value(), report->auditLastSeq + 2);
  CaKeyRecord k;
  k.kind = "ssh";
  k.algorithm = "ed25519";
  k.publicKey = "x";
  k.file = "x";
  EXPECT_EQ(pg->insertCaKey(k).value(), 4);

  // A jitgated on the copy: the same active grants, the same CA keys (no
  // new one made), the same KRL.
  boost::asio::io_context io;
  GrantEngine engine(*pg, clock_, io);
  ASSERT_TRUE(engine.start().ok());
  EXPECT_EQ(engine.activeGrantCount(), before.activeGrants);
}

TEST_F(StoreCopyTest, RefusesADatabaseThatIsNotEmpty) {
  fillState();
  // One a jitgated already used.
  std::string used = database("copy_used");
  {
    auto pg = openPostgresStore(used).value();
    ASSERT_TRUE(pg->insertTarget(Target{"other", "10.9.9.9"}).ok());
  }
  auto r = copyStateDirToPostgres(state(), used);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.refusal().code, RefusalCode::Conflict);
  EXPECT_EQ(r.refusal().field, "--copy-store-to");
  EXPECT_NE(r.refusal().message.find("targets (1 rows)"), std::string::npos) << r.refusal().message;
  EXPECT_EQ(openPostgresStore(used).value()->targets().value().size(), 1u);
  // One holding anything else.
  std::string other = database("copy_other");
  cluster_.sql("copy_other", "CREATE TABLE invoices (id int)");
  r = copyStateDirToPostgres(state(), other);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.refusal().code, RefusalCode::Conflict);
  EXPECT_NE(r.refusal().message.find("public.invoices"), std::string::npos) << r.refusal().message;
  EXPECT_EQ(tablesIn("copy_other"), "1");
  // A schema a jitgated created with nothing in it yet is empty.
  std::string fresh = database("copy_fresh_schema");
  (void)openPostgresStore(fresh).value();
  auto ok = copyStateDirToPostgres(state(), fresh);
  ASSERT_TRUE(ok.ok()) << ok.refusal().describe();
  EXPECT_EQ(count(*ok, "targets"), 3);
}

TEST_F(StoreCopyTest, RefusesABadUrlWithoutItsPassword) {
  fillState();
  for (const char* bad : {"mysql://root@db/jitgate", "jitgate.db", "host=db bogus_key=1",
                          "postgresql://u:Url-Pw-7@db:5432/x?nosuchkey=1"}) {
    auto r = copyStateDirToPostgres(state(), bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.refusal().code, RefusalCode::InvalidArgument) << bad;
    EXPECT_EQ(r.refusal().field, "--copy-store-to") << bad;
    EXPECT_EQ(r.refusal().describe().find("Url-Pw-7"), std::string::npos) << r.refusal().describe();
  }
  // Well formed, nobody there: refused, naming the server, not the password.
  std::string url =
      "postgresql://postgres:Hidden-Pw-9@127.0.0.1:" + std::to_string(testing::pickFreePort()) +
      "/jitgate?connect_timeout=2";
  auto r = copyStateDirToPostgres(state(), url);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.refusal().code, RefusalCode::StoreUnavailable);
  EXPECT_EQ(r.refusal().describe().find("Hidden-Pw-9"), std::string::npos)
      << r.refusal().describe();
}

TEST_F(StoreCopyTest, RefusesAStateDirectoryInUse) {
  fillState();
  std::string url = database("copy_in_use");
  // As a running jitgated holds it.
  UniqueFd lock(::open((state() + "/jitgated.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  ASSERT_EQ(::flock(lock.get(), LOCK_EX | LOCK_NB), 0);
  auto r = copyStateDirToPostgres(state(), url);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.refusal().code, RefusalCode::Conflict);
  EXPECT_EQ(r.refusal().field, "state_dir");
  EXPECT_NE(r.refusal().message.find("a jitgated is using it"), std::string::npos);
  EXPECT_EQ(tablesIn("copy_in_use"), "0");
  lock.reset();
  EXPECT_TRUE(copyStateDirToPostgres(state(), url).ok());
  // No state at all.
  auto none = copyStateDirToPostgres((dir_ / "nothing"), url);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.refusal().code, RefusalCode::NotFound);
  ::mkdir((dir_ / "empty").c_str(), 0700);
  none = copyStateDirToPostgres((dir_ / "empty"), url);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.refusal().code, RefusalCode::NotFound);
  EXPECT_NE(none.refusal().message.find("no SQLite store"), std::string::npos);
}

TEST_F(StoreCopyTest, ARowPostgresRefusesLeavesNothingCommitted) {
  fillState();
  {
    // SQLite keeps bytes PostgreSQL will not take as UTF-8 text.
    auto store = openSqliteStore(state() + "/jitgate.db").value();
    AuditEntry e;
    e.actor = "root";
    e.action = "test.bytes";
    e.outcome = "ok";
    e.detail = "\xff\xfe not text";
    ASSERT_TRUE(store->appendAudit(e).ok());
  }
  std::string url = database("copy_all_or_nothing");
  auto r = copyStateDirToPostgres(state(), url);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.refusal().message.find("copy into audit"), std::string::npos)
      << r.refusal().describe();
  // Not even the schema: the database is as empty as it was.
  EXPECT_EQ(tablesIn("copy_all_or_nothing"), "0");
}

}  // namespace
}  // namespace jitgate
