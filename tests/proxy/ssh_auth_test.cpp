// SSH authentication without a connection: which keys and certificates prove
// which user, the identity cache's reads, and one connection's attempts
// (offers, signatures, limits, malformed names) with what each audits.
#include "ssh_auth.hpp"

#include <gtest/gtest.h>

#include "../support/test_support.hpp"
#include "jitgate/ssh_key.hpp"
#include "jitgate/ssh_wire.hpp"

namespace jitgate {
namespace {

using namespace std::chrono_literals;

class SshAuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ids_.caBlobs = {ca_.publicBlob()};
    ids_.keysByUser["alice"] = {base64Encode(alice_.publicBlob())};
  }
  // A certificate for alice's key from `ca`, for `principals`, valid now.
  std::string certificate(const SigningKey& ca, std::vector<std::string> principals,
                          uint64_t serial = 7) {
    SshCertRequest req;
    req.subjectKey = alice_.publicBlob();
    req.serial = serial;
    req.keyId = "test";
    req.principals = std::move(principals);
    req.validAfter = now_ - 60s;
    req.validBefore = now_ + 3600s;
    req.sourceAddresses = {Cidr::parse("10.1.0.0/16").value()};
    auto blob = issueSshCertificate(ca, req);
    EXPECT_TRUE(blob.ok()) << blob.refusal().describe();
    return blob.value();
  }
  bool proves(const std::string& user, const std::string& target, const std::string& blob,
              bool cert, std::string& why) {
    return keyProvesUser(cache_, user, target, blob, cert, source_, now_, why);
  }
  SshAuthentication::Answer attempt(SshAuthentication& a, const std::string& user,
                                    const SigningKey& key, char state) {
    return a.attempt(user, Result<std::string>(key.publicBlob()), false, state, now_);
  }

  SigningKey ca_ = SigningKey::generate(KeyAlgorithm::Ed25519).value();
  SigningKey alice_ = SigningKey::generate(KeyAlgorithm::Ed25519).value();
  SigningKey stranger_ = SigningKey::generate(KeyAlgorithm::Ed25519).value();
  SysTime now_ = testing::at("2026-11-23T12:00:00Z");
  IpAddress source_ = IpAddress::parse("10.1.2.3").value();
  SshIdentities ids_;
  int loads_ = 0;
  SshIdentityCache cache_{[this] {
    ++loads_;
    return ids_;
  }};
};

TEST_F(SshAuthTest, ARegisteredKeyProvesItsUserAndNoOther) {
  std::string why;
  EXPECT_TRUE(proves("alice", "vm1", alice_.publicBlob(), false, why));
  EXPECT_EQ(why, "key " + sshFingerprint(alice_.publicBlob()));
  EXPECT_FALSE(proves("bob", "vm1", alice_.publicBlob(), false, why));
  EXPECT_NE(why.find("is not registered to bob"), std::string::npos) << why;
  EXPECT_FALSE(proves("alice", "vm1", stranger_.publicBlob(), false, why));
}

TEST_F(SshAuthTest, ACertificateProvesItsPrincipalForItsTarget) {
  auto cert = certificate(ca_, {targetPrincipal("alice", "vm1")});
  std::string why;
  EXPECT_TRUE(proves("alice", "vm1", cert, true, why)) << why;
  EXPECT_EQ(why, "certificate serial 7");
  // A forwarding login (no target): any of the user's targets will do.
  EXPECT_TRUE(proves("alice", "", cert, true, why)) << why;
  EXPECT_FALSE(proves("alice", "vm2", cert, true, why));
  EXPECT_EQ(why.rfind("certificate refused: ", 0), 0u) << why;
  EXPECT_FALSE(proves("bob", "vm1", cert, true, why));
}

TEST_F(SshAuthTest, CertificatesFromAnotherCaOrRevokedOrMalformedAreRefused) {
  auto foreign = SigningKey::generate(KeyAlgorithm::Ed25519).value();
  std::string why;
  EXPECT_FALSE(
      proves("alice", "vm1", certificate(foreign, {targetPrincipal("alice", "vm1")}), true, why));
  EXPECT_NE(why.find("certificate refused"), std::string::npos) << why;
  ids_.revoked[""].push_back({9, 9});
  cache_.markStale();
  EXPECT_FALSE(
      proves("alice", "vm1", certificate(ca_, {targetPrincipal("alice", "vm1")}, 9), true, why));
  EXPECT_NE(why.find("revoked"), std::string::npos) << why;
  EXPECT_FALSE(proves("alice", "vm1", "not a certificate", true, why));
  EXPECT_EQ(why.rfind("certificate: ", 0), 0u) << why;
}

TEST_F(SshAuthTest, AnUnavailableStoreFailsClosed) {
  ids_.error = "the store is unavailable";
  std::string why;
  EXPECT_FALSE(proves("alice", "vm1", alice_.publicBlob(), false, why));
  EXPECT_EQ(why, "the store is unavailable");
  // An error is not kept: the next check reads again.
  ids_.error.clear();
  EXPECT_TRUE(proves("alice", "vm1", alice_.publicBlob(), false, why));
}

TEST_F(SshAuthTest, TheCacheReadsOnceUntilMadeStale) {
  cache_.get();
  cache_.get();
  EXPECT_EQ(loads_, 1);
  cache_.markStale();
  cache_.get();
  EXPECT_EQ(loads_, 2);
}

TEST_F(SshAuthTest, AnOfferedKeyIsOnlyAcceptableAndAnUnownedOneIsAuditedOnceAtTheEnd) {
  SshAuthentication a(cache_, 6, "10.1.2.3", source_);
  EXPECT_EQ(attempt(a, "alice@vm1", alice_, SSH_PUBLICKEY_STATE_NONE).verdict,
            SshAuthentication::Verdict::Acceptable);
  auto offered = attempt(a, "alice@vm1", stranger_, SSH_PUBLICKEY_STATE_NONE);
  EXPECT_EQ(offered.verdict, SshAuthentication::Verdict::Denied);
  EXPECT_FALSE(offered.audit);  // not now: once, if nothing else happens
  auto last = a.takeUnaudited();
  ASSERT_TRUE(last);
  EXPECT_NE(last->detail.find("reason=authentication_failed"), std::string::npos) << last->detail;
  EXPECT_FALSE(a.takeUnaudited());
}

TEST_F(SshAuthTest, OnlyAVerifiedSignatureByTheUsersKeyAuthenticates) {
  SshAuthentication a(cache_, 6, "10.1.2.3", source_);
  // A signature libssh could not verify: denied, nothing to audit.
  auto bad = attempt(a, "alice@vm1", alice_, SSH_PUBLICKEY_STATE_WRONG);
  EXPECT_EQ(bad.verdict, SshAuthentication::Verdict::Denied);
  EXPECT_FALSE(bad.audit);
  // Signed by a key that is not alice's: denied and audited now.
  auto other = attempt(a, "alice@vm1", stranger_, SSH_PUBLICKEY_STATE_VALID);
  EXPECT_EQ(other.verdict, SshAuthentication::Verdict::Denied);
  ASSERT_TRUE(other.audit);
  EXPECT_EQ(other.audit->user, "alice");
  EXPECT_EQ(other.audit->target, "vm1");
  auto ok = attempt(a, "alice@vm1", alice_, SSH_PUBLICKEY_STATE_VALID);
  EXPECT_EQ(ok.verdict, SshAuthentication::Verdict::Authenticated);
  EXPECT_EQ(ok.login.user, "alice");
  EXPECT_EQ(ok.login.target, "vm1");
  EXPECT_EQ(ok.why, "key " + sshFingerprint(alice_.publicBlob()));
  EXPECT_FALSE(a.takeUnaudited());
}

TEST_F(SshAuthTest, AMalformedNameEndsTheConnectionWithTheReason) {
  SshAuthentication a(cache_, 6, "10.1.2.3", source_);
  auto r = attempt(a, "alice@vm1@x", alice_, SSH_PUBLICKEY_STATE_VALID);
  EXPECT_EQ(r.verdict, SshAuthentication::Verdict::Refused);
  EXPECT_EQ(r.why.rfind("jitgate: ", 0), 0u) << r.why;
  ASSERT_TRUE(r.audit);
  EXPECT_NE(r.audit->detail.find("reason=malformed_user"), std::string::npos);
}

TEST_F(SshAuthTest, TooManySignedAttemptsOrOffersEndTheConnection) {
  SshAuthentication a(cache_, 2, "10.1.2.3", source_);
  for (int i = 0; i < 2; ++i)
    EXPECT_EQ(attempt(a, "alice@vm1", stranger_, SSH_PUBLICKEY_STATE_VALID).verdict,
              SshAuthentication::Verdict::Denied);
  auto third = attempt(a, "alice@vm1", alice_, SSH_PUBLICKEY_STATE_VALID);
  EXPECT_EQ(third.verdict, SshAuthentication::Verdict::Refused);
  EXPECT_EQ(third.why, "jitgate: too many authentication attempts");
  ASSERT_TRUE(third.audit);
  EXPECT_NE(third.audit->detail.find("reason=too_many_attempts"), std::string::npos);
  // Offers count four times the limit.
  SshAuthentication b(cache_, 2, "10.1.2.3", source_);
  for (int i = 0; i < 8; ++i)
    EXPECT_NE(attempt(b, "alice@vm1", alice_, SSH_PUBLICKEY_STATE_NONE).verdict,
              SshAuthentication::Verdict::Refused);
  EXPECT_EQ(attempt(b, "alice@vm1", alice_, SSH_PUBLICKEY_STATE_NONE).verdict,
            SshAuthentication::Verdict::Refused);
}

}  // namespace
}  // namespace jitgate
