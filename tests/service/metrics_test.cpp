// Metrics from what the store commits: the fronts' own audit records (made by
// the session registry's helpers) move the session counters; window ends,
// decisions and commits move the histograms. A real SQLite store, an
// injected clock.
#include "jitgate/service/metrics.hpp"

#include <gtest/gtest.h>

#include "../support/test_support.hpp"
#include "jitgate/proxy/session_registry.hpp"

namespace jitgate {
namespace {

using namespace std::chrono_literals;
using testing::FakeClock;
using testing::TempDir;

class MetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = std::make_unique<ObservedStore>(openSqliteStore(dir_ / "db").value());
    engine_ = std::make_unique<GrantEngine>(*store_, clock_, io_);
    ASSERT_TRUE(engine_->start().ok());
    metrics_ = std::make_unique<Metrics>(io_, *engine_, *store_);
    Target t;
    t.name = "vm1";
    t.address = "10.0.0.5";
    ASSERT_TRUE(engine_->addTarget("admin", t).ok());
    Policy p;
    p.target = "vm1";
    ASSERT_TRUE(engine_->setPolicy("admin", p).ok());
  }
  void TearDown() override {
    metrics_.reset();
    engine_.reset();
  }

  std::string grant(const std::string& user) {
    GrantInput in;
    in.user = user;
    in.target = "vm1";
    in.port.number = 22;
    in.port.source = Cidr::parse("10.0.0.0/8").value();
    in.port.duration = Seconds(600);
    auto g = engine_->grant("admin", in);
    EXPECT_TRUE(g.ok()) << g.refusal().describe();
    return g.ok() ? g->id : "";
  }
  SessionRecord session(const std::string& front, const std::string& grantId) {
    SessionRecord r;
    r.front = front;
    r.user = "alice";
    r.target = "vm1";
    r.port = 22;
    r.source = "10.0.0.9";
    r.grantId = grantId;
    return r;
  }
  // The value of one sample line ("name{labels} value"); -1 when absent.
  double sample(const std::string& series) {
    auto text = metrics_->text();
    auto at = text.find("\n" + series + " ");
    if (at == std::string::npos) return -1;
    return std::stod(text.substr(at + series.size() + 2));
  }

  TempDir dir_;
  FakeClock clock_{testing::at("2026-11-23T12:00:00Z")};
  boost::asio::io_context io_;
  std::unique_ptr<ObservedStore> store_;
  std::unique_ptr<GrantEngine> engine_;
  std::unique_ptr<Metrics> metrics_;
};

TEST_F(MetricsTest, ConnectsRefusalsAndCutsMoveTheirCounters) {
  auto id = grant("alice");
  EXPECT_EQ(sample("jitgate_grants_active"), 1);
  auto ssh = session("ssh", id);
  auto fwd = session("ssh-forward", id);
  ASSERT_TRUE(engine_->record({connectEntry(ssh), connectEntry(fwd)}).ok());
  EXPECT_EQ(sample("jitgate_connections_accepted_total{front=\"ssh\",mode=\"terminating\"}"), 1);
  EXPECT_EQ(sample("jitgate_sessions{front=\"ssh\",mode=\"forwarding\"}"), 1);

  ASSERT_TRUE(engine_
                  ->record(refusalEntry("ssh", "bob", "vm1", 22, "10.0.0.7",
                                        SessionRefusal::NoGrant, "bob holds no grant on vm1"))
                  .ok());
  EXPECT_EQ(sample("jitgate_connections_refused_total{front=\"ssh\",reason=\"no_grant\"}"), 1);

  // A revoke 2.5 s before the disconnect record: one cut, lag 2.5 s.
  ASSERT_TRUE(engine_->revoke("admin", id).ok());
  io_.poll();
  clock_.advance(2500ms);
  fwd.bytesToTarget = 100;
  fwd.bytesFromTarget = 2000;
  ASSERT_TRUE(engine_->record(disconnectEntry(fwd, EndReason::Revoked)).ok());
  EXPECT_EQ(sample("jitgate_sessions{front=\"ssh\",mode=\"forwarding\"}"), 0);
  EXPECT_EQ(sample("jitgate_cutoffs_total{reason=\"revoked\"}"), 1);
  EXPECT_EQ(sample("jitgate_cutoff_lag_seconds_count"), 1);
  EXPECT_EQ(sample("jitgate_cutoff_lag_seconds_bucket{le=\"2.5\"}"), 1);
  EXPECT_EQ(sample("jitgate_cutoff_lag_seconds_bucket{le=\"1\"}"), 0);
  EXPECT_EQ(sample("jitgate_relayed_bytes_total{direction=\"from_target\",front=\"ssh\",mode="
                   "\"forwarding\"}"),
            2000);
  EXPECT_EQ(sample("jitgate_sessions_ended_total{front=\"ssh\",mode=\"forwarding\",reason="
                   "\"revoked\"}"),
            1);
  EXPECT_EQ(sample("jitgate_grants_active"), 0);
  EXPECT_EQ(sample("jitgate_store_up"), 1);
  EXPECT_GT(sample("jitgate_store_commit_duration_seconds_count"), 4);
}

TEST_F(MetricsTest, ReasonsAreBoundedAndFloodsCounted) {
  // A record not written by a front (the fronts name only SessionRefusal's).
  auto stray =
      refusalEntry("winrm-https", "", "", std::nullopt, "10.0.0.7", SessionRefusal::Http, "x");
  stray.detail = "front=winrm-https reason=Not A Reason: x";
  ASSERT_TRUE(engine_->record(stray).ok());
  EXPECT_EQ(sample("jitgate_connections_refused_total{front=\"winrm\",reason=\"other\"}"), 1);
  auto flood = refusalEntry("ssh", "", "", std::nullopt, "10.0.0.7",
                            SessionRefusal::AuthenticationFailed, "x");
  flood.detail += " (and 17 earlier pre-authentication refusals not recorded one by one)";
  ASSERT_TRUE(engine_->record(flood).ok());
  EXPECT_EQ(sample("jitgate_connections_refused_total{front=\"ssh\",reason=\"unrecorded\"}"), 17);
  // A record naming an unknown front moves nothing.
  auto odd = refusalEntry("telnet", "", "", std::nullopt, "10.0.0.7", SessionRefusal::NoGrant, "x");
  ASSERT_TRUE(engine_->record(odd).ok());
  EXPECT_EQ(metrics_->text().find("telnet"), std::string::npos);
}

TEST_F(MetricsTest, DecisionsAreTimedByOutcome) {
  auto ip = IpAddress::parse("10.0.0.9").value();
  grant("alice");
  EXPECT_TRUE(engine_->decide("alice", "vm1", 22, ip).allowed);
  EXPECT_FALSE(engine_->decide("bob", "vm1", 22, ip).allowed);
  EXPECT_FALSE(engine_->decide("bob", "vm2", 22, ip).allowed);
  EXPECT_EQ(sample("jitgate_decision_duration_seconds_count{outcome=\"allow\"}"), 1);
  EXPECT_EQ(sample("jitgate_decision_duration_seconds_count{outcome=\"deny\"}"), 2);
}

TEST_F(MetricsTest, PendingRequestsAndCertificatesAndBuildInfo) {
  Policy p;
  p.target = "vm1";
  p.requireApproval = true;
  ASSERT_TRUE(engine_->setPolicy("admin", p).ok());
  RequestInput in;
  in.target = "vm1";
  RequestedPort port;
  port.number = 22;
  port.source = Cidr::parse("10.0.0.9/32").value();
  port.duration = Seconds(600);
  in.ports = {port};
  in.justification = "ticket 1";
  ASSERT_TRUE(engine_->request("carol", in).ok());
  EXPECT_EQ(sample("jitgate_requests_pending"), 1);
  CaKeyRecord k;
  k.kind = "x509";
  k.algorithm = "ecdsa-p256";
  k.publicKey = "-";
  k.file = "x509-ca.key";
  auto keyId = store_->insertCaKey(k);
  ASSERT_TRUE(keyId.ok());
  IssuedCertificate c;
  c.serial = 7;
  c.kind = "x509";
  c.grantId = "g-x";
  c.caKeyId = *keyId;
  auto inserted = store_->insertCertificate(c);
  ASSERT_TRUE(inserted.ok()) << inserted.refusal().describe();
  // A certificate the store refuses (its serial is taken) is not counted.
  EXPECT_FALSE(store_->insertCertificate(c).ok());
  EXPECT_EQ(sample("jitgate_certificates_issued_total{kind=\"x509\"}"), 1);
  EXPECT_EQ(sample(std::string("jitgate_build_info{version=\"") + JITGATE_VERSION + "\"}"), 1);
}

}  // namespace
}  // namespace jitgate
