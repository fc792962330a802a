// The daemon's certificate authority: who may get certificates for which
// grants, what they say, the KRL kept current on revoke, rotation, restart.
#include "jitgate/authority.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <boost/asio/io_context.hpp>

#include "../support/postgres.hpp"
#include "../support/process.hpp"
#include "../support/test_support.hpp"
#include "jitgate/ssh_cert.hpp"
#include "jitgate/ssh_wire.hpp"

namespace jitgate {
namespace {

using namespace std::chrono_literals;
using testing::TempDir;

constexpr const char* kUserKey =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKnqMwq1wQ6S0+7JgQ5Mx+FZoZLhPfTnLPo5eA0gEZ5V alice@laptop";

class AuthorityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::mkdir((dir_ / "state").c_str(), 0700);
    open();
    Target t;
    t.name = "vm1";
    t.address = "10.0.0.5";
    ASSERT_TRUE(engine_->addTarget("root", t).ok());
    Policy p;
    p.target = "vm1";
    p.ports = {PortRule{22, "tcp", {Cidr::any()}, 3h}, PortRule{5986, "tcp", {Cidr::any()}, 3h}};
    ASSERT_TRUE(engine_->setPolicy("root", p).ok());
  }

  void open() {
    ca_.reset();
    engine_.reset();
    store_.reset();
    store_ = testing::openTestStore(dir_, "state/db");
    engine_ = std::make_unique<GrantEngine>(*store_, clock_, io_);
    ASSERT_TRUE(engine_->start().ok());
    AuthorityOptions o;
    o.stateDir = dir_ / "state";
    auto ca = CertificateAuthority::open(*store_, *engine_, clock_, o);
    ASSERT_TRUE(ca.ok()) << ca.refusal().describe();
    ca_ = std::move(*ca);
  }

  Grant grant(const std::string& user, uint16_t port, const char* source = "10.1.0.0/16") {
    GrantInput in;
    in.user = user;
    in.target = "vm1";
    in.port.number = port;
    in.port.source = Cidr::parse(source).value();
    in.port.duration = 1h;
    return engine_->grant("root", in).value();
  }

  TempDir dir_;
  testing::FakeClock clock_{std::chrono::floor<Seconds>(std::chrono::system_clock::now())};
  boost::asio::io_context io_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<GrantEngine> engine_;
  std::unique_ptr<CertificateAuthority> ca_;
};

TEST_F(AuthorityTest, SshCertificateSaysWhatTheGrantSays) {
  auto g = grant("alice", 22);
  auto issued = ca_->issueSsh("alice", false, g.id, kUserKey);
  ASSERT_TRUE(issued.ok()) << issued.refusal().describe();
  auto cert = parseSshCertificateLine(issued->line).value();
  EXPECT_EQ(cert.principals, std::vector<std::string>{"alice@vm1"});
  EXPECT_EQ(cert.validBefore, static_cast<uint64_t>(g.end.time_since_epoch().count()));
  EXPECT_EQ(cert.validAfter, static_cast<uint64_t>((g.start - 60s).time_since_epoch().count()));
  ASSERT_EQ(cert.criticalOptions.size(), 1u);
  EXPECT_EQ(cert.criticalOptions[0],
            (std::pair<std::string, std::string>{"source-address", "10.1.0.0/16"}));
  ASSERT_EQ(cert.extensions.size(), 1u);
  EXPECT_EQ(cert.extensions[0].first, "permit-pty");
  EXPECT_NE(cert.keyId.find(g.id), std::string::npos);
  EXPECT_EQ(cert.serial, issued->record.serial);
  auto trusted = ca_->trustedSshKeys().value();
  ASSERT_EQ(trusted.size(), 1u);
  CertExpectations x;
  std::string caBlob;
  auto line = trusted[0].publicKey;
  ASSERT_TRUE(
      base64Decode(line.substr(line.find(' ') + 1, line.rfind(' ') - line.find(' ') - 1), caBlob));
  x.trustedCaKeys = {caBlob};
  x.principal = "alice";
  x.target = "vm1";
  x.source = IpAddress::parse("10.1.2.3").value();
  x.now =
      static_cast<uint64_t>(std::chrono::floor<Seconds>(clock_.now()).time_since_epoch().count());
  std::string why;
  EXPECT_EQ(checkSshCertificate(cert, x, &why), CertCheck::Ok) << why;
  // Issuing is audited with the serial.
  auto audit = store_->audit({}).value();
  EXPECT_EQ(audit.back().action, "cert.issue");
  EXPECT_NE(audit.back().detail.find(std::to_string(cert.serial)), std::string::npos);
}

TEST_F(AuthorityTest, OnlyTheGrantsUserOrAnAdminGetsOne) {
  auto g = grant("alice", 22);
  auto other = ca_->issueSsh("mallory", false, g.id, kUserKey);
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.refusal().code, RefusalCode::NotFound);
  EXPECT_TRUE(ca_->issueSsh("root", true, g.id, kUserKey).ok());
  auto bogus = ca_->issueSsh("alice", false, "g-0000000000000000", kUserKey);
  EXPECT_EQ(bogus.refusal().code, RefusalCode::NotFound);
}

TEST_F(AuthorityTest, CertificatesOnlyForTheRightPortAndALiveGrant) {
  auto rdp = grant("alice", 5986);
  auto wrong = ca_->issueSsh("alice", false, rdp.id, kUserKey);
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.refusal().code, RefusalCode::PolicyViolation);
  EXPECT_NE(wrong.refusal().message.find("SSH port 22"), std::string::npos);
  auto x509 = ca_->issueX509("alice", false, rdp.id);
  ASSERT_TRUE(x509.ok()) << x509.refusal().describe();
  auto verified =
      ca_->x509().verify(x509->material.certPem, std::chrono::floor<Seconds>(clock_.now()), {});
  ASSERT_TRUE(verified.ok()) << verified.refusal().describe();
  EXPECT_EQ(verified->user, "alice");
  EXPECT_EQ(verified->grantId, rdp.id);

  auto ssh = grant("alice", 22);
  ASSERT_TRUE(engine_->revoke("root", ssh.id).ok());
  auto revoked = ca_->issueSsh("alice", false, ssh.id, kUserKey);
  ASSERT_FALSE(revoked.ok());
  EXPECT_EQ(revoked.refusal().code, RefusalCode::Conflict);
  auto badKey = ca_->issueSsh("alice", false, grant("alice", 22).id, "ssh-ed25519 AAAA");
  ASSERT_FALSE(badKey.ok());
  EXPECT_EQ(badKey.refusal().field, "publicKey");
}

TEST_F(AuthorityTest, RevokingAGrantRewritesTheKrl) {
  auto g = grant("alice", 22);
  auto kept = grant("bob", 22);
  auto issued = ca_->issueSsh("alice", false, g.id, kUserKey).value();
  auto keptCert = ca_->issueSsh("root", true, kept.id, kUserKey).value();
  auto before = parseKrl(testing::slurp(ca_->krlPath())).value();
  EXPECT_TRUE(before.empty());
  ASSERT_TRUE(engine_->revoke("root", g.id).ok());
  auto after = parseKrl(testing::slurp(ca_->krlPath())).value();
  ASSERT_EQ(after.size(), 1u);
  const auto& caKey = after.begin()->first;
  EXPECT_TRUE(isRevoked(after, caKey, issued.record.serial));
  EXPECT_FALSE(isRevoked(after, caKey, keptCert.record.serial));
  struct stat st {};
  ASSERT_EQ(::stat(ca_->krlPath().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
  // X.509 certificates of revoked grants are listed too.
  auto winrm = grant("carol", 5986);
  auto x = ca_->issueX509("carol", false, winrm.id).value();
  ASSERT_TRUE(engine_->revoke("root", winrm.id).ok());
  EXPECT_TRUE(ca_->revokedX509Serials().value().count(x.record.serial));
}

TEST_F(AuthorityTest, RotationKeepsTheOldKeyTrustedWhileItsCertificatesLive) {
  auto g = grant("alice", 22);
  auto old = ca_->issueSsh("alice", false, g.id, kUserKey).value();
  auto rotated = ca_->rotateSsh("root", KeyAlgorithm::EcdsaP256);
  ASSERT_TRUE(rotated.ok()) << rotated.refusal().describe();
  auto trusted = ca_->trustedSshKeys().value();
  ASSERT_EQ(trusted.size(), 2u);
  EXPECT_TRUE(trusted[0].retiredAt.has_value());
  EXPECT_EQ(trusted[1].algorithm, "ecdsa-p256");
  auto fresh = ca_->issueSsh("alice", false, g.id, kUserKey).value();
  EXPECT_EQ(parseSshCertificateLine(fresh.line).value().signatureKey.substr(4, 19),
            "ecdsa-sha2-nistp256");
  // Once the old key's last certificate has expired it is no longer exported.
  clock_.advance(2h);
  trusted = ca_->trustedSshKeys().value();
  ASSERT_EQ(trusted.size(), 1u);
  EXPECT_EQ(trusted[0].algorithm, "ecdsa-p256");
  (void)old;
}

TEST_F(AuthorityTest, AWholeFamilyGrantStillRestrictsTheCertificate) {
  Policy p;
  p.target = "vm1";
  p.ports = {PortRule{22, "tcp", {Cidr::any()}, 3h}};
  ASSERT_TRUE(engine_->setPolicy("root", p).ok());
  GrantInput in;
  in.user = "alice";
  in.target = "vm1";
  in.port.number = 22;
  in.port.source = Cidr::parse("0.0.0.0/0").value();
  in.port.duration = 1h;
  in.allowAnySource = true;
  auto g = engine_->grant("root", in).value();
  auto cert = parseSshCertificateLine(ca_->issueSsh("alice", false, g.id, kUserKey)->line).value();
  ASSERT_EQ(cert.criticalOptions.size(), 1u);
  EXPECT_EQ(cert.criticalOptions[0].second, "0.0.0.0/0");  // not valid from IPv6
  in.port.source = Cidr::any();
  auto anywhere = engine_->grant("root", in).value();
  auto open =
      parseSshCertificateLine(ca_->issueSsh("alice", false, anywhere.id, kUserKey)->line).value();
  EXPECT_TRUE(open.criticalOptions.empty());
}

TEST_F(AuthorityTest, RotationUsesTheConfiguredAlgorithmByDefault) {
  auto rec = ca_->rotateSsh("root");
  ASSERT_TRUE(rec.ok()) << rec.refusal().describe();
  EXPECT_EQ(rec->algorithm, "ed25519");
  auto keys = store_->caKeys("ssh").value();
  ASSERT_EQ(keys.size(), 2u);
  EXPECT_TRUE(keys[0].retiredAt.has_value());
  EXPECT_FALSE(keys[1].retiredAt.has_value());
  EXPECT_EQ(store_->audit({}).value().back().action, "ca.rotate");
}

TEST_F(AuthorityTest, KeysSurviveARestartAndStayPrivate) {
  auto before = ca_->trustedSshKeys().value();
  auto x509Before = ca_->x509CaPem();
  open();
  auto after = ca_->trustedSshKeys().value();
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after[0].publicKey, before[0].publicKey);
  EXPECT_EQ(ca_->x509CaPem(), x509Before);
  struct stat st {};
  ASSERT_EQ(::stat((dir_ / "state/ca").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(::stat((dir_ / "state/ca/" + after[0].file).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

}  // namespace
}  // namespace jitgate
