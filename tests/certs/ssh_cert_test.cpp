// OpenSSH certificates: what we issue must satisfy ssh-keygen, what
// ssh-keygen issues must satisfy our verifier, and every refusal has its
// own reason.
#include "jitgate/ssh_cert.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "../support/process.hpp"
#include "../support/test_support.hpp"
#include "jitgate/cert_check.h"
#include "jitgate/ssh_wire.hpp"

namespace jitgate {
namespace {

using namespace std::chrono_literals;
using testing::TempDir;

std::string slurpTrim(const std::string& path) {
  auto s = testing::slurp(path);
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

std::string blobOfLine(std::string line) {
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
  auto sp = line.find(' ');
  auto b64 = line.substr(sp + 1, line.find(' ', sp + 1) - sp - 1);
  std::string blob;
  EXPECT_TRUE(base64Decode(b64, blob)) << line;
  return blob;
}

testing::RunResult sh(const std::string& dir, const std::vector<std::string>& argv) {
  return testing::run(argv, dir);
}

class SshCertTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(sh(dir_.path(), {"/usr/bin/ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C",
                               "alice@laptop", "-f", dir_ / "user"})
                  .exitCode,
              0);
    userKey_ = blobOfLine(slurpTrim(dir_ / "user.pub"));
    now_ = std::chrono::floor<Seconds>(std::chrono::system_clock::now());
  }

  SshCertRequest request() {
    SshCertRequest r;
    r.subjectKey = userKey_;
    r.serial = 4242;
    r.keyId = "jitgate grant g-0123456789abcdef user alice";
    r.principals = {"alice@vm1"};
    r.validAfter = now_ - 60s;
    r.validBefore = now_ + 1h;
    r.sourceAddresses = {Cidr::parse("127.0.0.1").value(), Cidr::parse("10.0.0.0/8").value()};
    r.extensions = {"permit-pty"};
    return r;
  }

  CertExpectations expect(const SigningKey& ca) {
    CertExpectations x;
    x.trustedCaKeys = {ca.publicBlob()};
    x.principal = "alice";
    x.target = "vm1";
    x.source = IpAddress::parse("127.0.0.1").value();
    x.now = static_cast<uint64_t>(now_.time_since_epoch().count());
    return x;
  }

  std::string writeCert(const std::string& blob, const std::string& name = "user-cert.pub") {
    std::ofstream(dir_ / name) << sshCertificateLine(blob, "jitgate") << "\n";
    return dir_ / name;
  }

  TempDir dir_;
  std::string userKey_;
  SysTime now_;
};

TEST_F(SshCertTest, SshKeygenAcceptsWhatWeIssueForEveryCaAlgorithm) {
  for (auto alg : {KeyAlgorithm::Ed25519, KeyAlgorithm::EcdsaP256, KeyAlgorithm::Rsa3072}) {
    SCOPED_TRACE(std::string(toString(alg)));
    auto ca = SigningKey::generate(alg).value();
    auto blob = issueSshCertificate(ca, request()).value();
    auto path = writeCert(blob);
    auto listed = sh(dir_.path(), {"/usr/bin/ssh-keygen", "-L", "-f", path});
    ASSERT_EQ(listed.exitCode, 0) << listed.err;
    const auto& out = listed.out;
    EXPECT_NE(out.find("ssh-ed25519-cert-v01@openssh.com user certificate"), std::string::npos)
        << out;
    EXPECT_NE(out.find(sshFingerprint(ca.publicBlob())), std::string::npos) << out;
    EXPECT_NE(out.find("Key ID: \"jitgate grant g-0123456789abcdef user alice\""),
              std::string::npos)
        << out;
    EXPECT_NE(out.find("Serial: 4242"), std::string::npos) << out;
    EXPECT_NE(out.find("source-address 127.0.0.1/32,10.0.0.0/8"), std::string::npos) << out;
    EXPECT_NE(out.find("permit-pty"), std::string::npos) << out;
    EXPECT_EQ(out.find("permit-agent-forwarding"), std::string::npos) << out;
    EXPECT_EQ(out.find("permit-port-forwarding"), std::string::npos) << out;
    // And our own parser and verifier agree.
    auto parsed = parseSshCertificate(blob).value();
    EXPECT_EQ(parsed.keyBlob, userKey_);
    std::string why;
    EXPECT_EQ(checkSshCertificate(parsed, expect(ca), &why), CertCheck::Ok) << why;
  }
}

TEST_F(SshCertTest, SshKeygenRefusesATamperedSignatureAndSoDoWe) {
  auto ca = SigningKey::generate(KeyAlgorithm::Ed25519).value();
  auto blob = issueSshCertificate(ca, request()).value();
  blob[blob.size() - 5] ^= 0x01;  // inside the signature
  auto path = writeCert(blob);
  EXPECT_NE(sh(dir_.path(), {"/usr/bin/ssh-keygen", "-L", "-f", path}).exitCode, 0);
  auto parsed = parseSshCertificate(blob).value();
  EXPECT_EQ(checkSshCertificate(parsed, expect(ca), nullptr), CertCheck::BadSignature);
  // Tampering with a signed field (the principal) instead.
  auto good = issueSshCertificate(ca, request()).value();
  auto pos = good.find("alice");
  ASSERT_NE(pos, std::string::npos);
  good[pos] = 'b';
  auto tampered = parseSshCertificate(good).value();
  CertExpectations x = expect(ca);
  x.principal = "blice";
  EXPECT_EQ(checkSshCertificate(tampered, x, nullptr), CertCheck::BadSignature);
}

TEST_F(SshCertTest, EachRefusalHasItsOwnReason) {
  auto ca = SigningKey::generate(KeyAlgorithm::EcdsaP256).value();
  auto other = SigningKey::generate(KeyAlgorithm::Ed25519).value();
  auto cert = parseSshCertificate(issueSshCertificate(ca, request()).value()).value();
  std::string why;
  auto x = expect(ca);
  EXPECT_EQ(checkSshCertificate(cert, x, &why), CertCheck::Ok) << why;

  auto wrongUser = x;
  wrongUser.principal = "bob";
  EXPECT_EQ(checkSshCertificate(cert, wrongUser, &why), CertCheck::WrongPrincipal);
  EXPECT_NE(why.find("bob"), std::string::npos);

  // The same login on another target.
  auto wrongTarget = x;
  wrongTarget.target = "vm2";
  EXPECT_EQ(checkSshCertificate(cert, wrongTarget, &why), CertCheck::WrongTarget);
  EXPECT_EQ(why, "wrong_target: valid for target 'vm1', not 'vm2'");
  // No target to check against: refused, never "any".
  auto noTarget = x;
  noTarget.target.clear();
  EXPECT_EQ(checkSshCertificate(cert, noTarget, &why), CertCheck::WrongTarget);
  EXPECT_NE(why.find("no target"), std::string::npos) << why;
  // The bastion's ProxyJump identity check: any target of this login.
  auto anyTarget = noTarget;
  anyTarget.anyTarget = true;
  EXPECT_EQ(checkSshCertificate(cert, anyTarget, &why), CertCheck::Ok) << why;
  anyTarget.principal = "bob";
  EXPECT_EQ(checkSshCertificate(cert, anyTarget, &why), CertCheck::WrongPrincipal);
  // A certificate naming the bare login binds to no target.
  auto bareReq = request();
  bareReq.principals = {"alice"};
  auto bare = parseSshCertificate(issueSshCertificate(ca, bareReq).value()).value();
  EXPECT_EQ(checkSshCertificate(bare, x, &why), CertCheck::WrongPrincipal);
  EXPECT_NE(why.find("binds it to no target"), std::string::npos) << why;
  EXPECT_EQ(checkSshCertificate(bare, anyTarget, &why), CertCheck::WrongPrincipal);

  auto early = x;
  early.now = static_cast<uint64_t>((now_ - 2min).time_since_epoch().count());
  EXPECT_EQ(checkSshCertificate(cert, early, &why), CertCheck::NotYetValid);

  auto atEnd = x;  // valid_before is exclusive
  atEnd.now = cert.validBefore;
  EXPECT_EQ(checkSshCertificate(cert, atEnd, &why), CertCheck::Expired);
  atEnd.now = cert.validBefore - 1;
  EXPECT_EQ(checkSshCertificate(cert, atEnd, &why), CertCheck::Ok) << why;

  auto elsewhere = x;
  elsewhere.source = IpAddress::parse("127.0.0.2").value();
  EXPECT_EQ(checkSshCertificate(cert, elsewhere, &why), CertCheck::SourceNotAllowed);
  auto mapped = x;
  mapped.source = IpAddress::parse("::ffff:10.9.8.7").value();
  EXPECT_EQ(checkSshCertificate(cert, mapped, &why), CertCheck::Ok) << why;

  auto untrusted = x;
  untrusted.trustedCaKeys = {other.publicBlob()};
  EXPECT_EQ(checkSshCertificate(cert, untrusted, &why), CertCheck::UntrustedCa);

  auto revoked = x;
  revoked.revoked[ca.publicBlob()] = {{4000, 5000}};
  EXPECT_EQ(checkSshCertificate(cert, revoked, &why), CertCheck::Revoked);
  auto revokedAnyCa = x;
  revokedAnyCa.revoked[""] = {{4242, 4242}};
  EXPECT_EQ(checkSshCertificate(cert, revokedAnyCa, &why), CertCheck::Revoked);
  auto otherCaRevoked = x;
  otherCaRevoked.revoked[other.publicBlob()] = {{4242, 4242}};
  EXPECT_EQ(checkSshCertificate(cert, otherCaRevoked, &why), CertCheck::Ok);
}

TEST_F(SshCertTest, IssuingRefusesWhatWouldBeUnsafe) {
  auto ca = SigningKey::generate(KeyAlgorithm::Ed25519).value();
  auto noPrincipals = request();
  noPrincipals.principals.clear();
  EXPECT_EQ(issueSshCertificate(ca, noPrincipals).refusal().field, "principals");
  auto empty = request();
  empty.validBefore = empty.validAfter;
  EXPECT_EQ(issueSshCertificate(ca, empty).refusal().field, "valid_before");
  auto anySource = request();
  anySource.sourceAddresses = {Cidr::any()};
  EXPECT_EQ(issueSshCertificate(ca, anySource).refusal().field, "source");
  auto zero = request();
  zero.serial = 0;
  EXPECT_EQ(issueSshCertificate(ca, zero).refusal().field, "serial");
}

// Certificates made by ssh-keygen -s, checked by our verifier.
class SshKeygenIssued : public SshCertTest {
 protected:
  void SetUp() override {
    SshCertTest::SetUp();
    ASSERT_EQ(
        sh(dir_.path(), {"/usr/bin/ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", dir_ / "ca"})
            .exitCode,
        0);
    caBlob_ = blobOfLine(slurpTrim(dir_ / "ca.pub"));
  }
  // Signs user.pub with extra ssh-keygen options; returns the parsed cert.
  Result<SshCertificate> sign(std::vector<std::string> opts) {
    std::vector<std::string> argv{
        "/usr/bin/ssh-keygen", "-q", "-s", dir_ / "ca", "-I", "kid", "-z", "77"};
    argv.insert(argv.end(), opts.begin(), opts.end());
    ::unlink((dir_ / "user-cert.pub").c_str());
    argv.push_back(dir_ / "user.pub");
    auto r = sh(dir_.path(), argv);
    EXPECT_EQ(r.exitCode, 0) << r.err;
    return parseSshCertificateLine(slurpTrim(dir_ / "user-cert.pub"));
  }
  CertExpectations x() {
    CertExpectations e;
    e.trustedCaKeys = {caBlob_};
    e.principal = "alice";
    e.target = "vm1";
    e.source = IpAddress::parse("127.0.0.1").value();
    e.now = static_cast<uint64_t>(now_.time_since_epoch().count());
    return e;
  }
  std::string caBlob_;
};

TEST_F(SshKeygenIssued, AgreesWithSshKeygenOnATableOfCertificates) {
  struct Case {
    std::vector<std::string> opts;
    CertCheck expected;
  } cases[] = {
      {{"-n", "alice@vm1", "-V", "-5m:+1h"}, CertCheck::Ok},
      {{"-n", "alice@vm1,bob@vm1", "-V", "-5m:+1h", "-O", "source-address=127.0.0.0/8"},
       CertCheck::Ok},
      {{"-n", "bob@vm1", "-V", "-5m:+1h"}, CertCheck::WrongPrincipal},
      {{"-n", "alice@vm1", "-V", "20200101:20200102"}, CertCheck::Expired},
      {{"-n", "alice@vm1", "-V", "+1h:+2h"}, CertCheck::NotYetValid},
      {{"-n", "alice@vm1", "-V", "-5m:+1h", "-O", "source-address=127.0.0.2"},
       CertCheck::SourceNotAllowed},
      {{"-n", "alice@vm1", "-V", "-5m:+1h", "-O", "force-command=/bin/true"},
       CertCheck::UnknownCriticalOption},
      {{"-h", "-n", "alice@vm1", "-V", "-5m:+1h"}, CertCheck::NotUserCertificate},
      {{"-V", "-5m:+1h"}, CertCheck::NoPrincipals},
      {{"-n", "alice@vm2", "-V", "-5m:+1h"}, CertCheck::WrongTarget},
      {{"-n", "alice@vm2,alice@vm1", "-V", "-5m:+1h"}, CertCheck::Ok},
      {{"-n", "alice", "-V", "-5m:+1h"}, CertCheck::WrongPrincipal},
      {{"-n", "alice@", "-V", "-5m:+1h"}, CertCheck::WrongPrincipal},
      {{"-n", "alice@vm1@x", "-V", "-5m:+1h"}, CertCheck::WrongPrincipal},
  };
  for (const auto& c : cases) {
    std::string label;
    for (const auto& o : c.opts) label += o + " ";
    SCOPED_TRACE(label);
    auto cert = sign(c.opts);
    ASSERT_TRUE(cert.ok()) << cert.refusal().describe();
    EXPECT_EQ(cert->serial, 77u);
    std::string why;
    EXPECT_EQ(checkSshCertificate(*cert, x(), &why), c.expected) << why;
  }
}

TEST_F(SshKeygenIssued, ReadsKrlsFromSshKeygenAndSshKeygenReadsOurs) {
  auto cert = sign({"-n", "alice@vm1", "-V", "-5m:+1h"});
  ASSERT_TRUE(cert.ok());
  // ssh-keygen's KRL, read by us.
  std::ofstream(dir_ / "spec") << "serial: 70-80\n";
  ASSERT_EQ(sh(dir_.path(), {"/usr/bin/ssh-keygen", "-k", "-f", dir_ / "theirs.krl", "-s",
                             dir_ / "ca.pub", dir_ / "spec"})
                .exitCode,
            0);
  auto theirs = parseKrl(testing::slurp(dir_ / "theirs.krl"));
  ASSERT_TRUE(theirs.ok()) << theirs.refusal().describe();
  auto e = x();
  e.revoked = *theirs;
  EXPECT_EQ(checkSshCertificate(*cert, e, nullptr), CertCheck::Revoked);

  // Ours, read by ssh-keygen -Q.
  auto krl = buildKrl({KrlEntry{caBlob_, {77, 9}}}, 3, now_, "jitgate test");
  std::ofstream(dir_ / "ours.krl", std::ios::binary) << krl;
  auto q = sh(dir_.path(),
              {"/usr/bin/ssh-keygen", "-Q", "-f", dir_ / "ours.krl", dir_ / "user-cert.pub"});
  EXPECT_NE(q.exitCode, 0) << q.out;
  EXPECT_NE(q.out.find("REVOKED"), std::string::npos) << q.out << q.err;
  auto notListed = buildKrl({KrlEntry{caBlob_, {78}}}, 4, now_, "");
  std::ofstream(dir_ / "other.krl", std::ios::binary) << notListed;
  auto ok = sh(dir_.path(),
               {"/usr/bin/ssh-keygen", "-Q", "-f", dir_ / "other.krl", dir_ / "user-cert.pub"});
  EXPECT_EQ(ok.exitCode, 0) << ok.out << ok.err;
  auto back = parseKrl(krl).value();
  EXPECT_TRUE(isRevoked(back, caBlob_, 77));
  EXPECT_FALSE(isRevoked(back, caBlob_, 78));
}

TEST_F(SshCertTest, TruncatedAndCorruptedBlobsAreRefusedCleanly) {
  auto ca = SigningKey::generate(KeyAlgorithm::Ed25519).value();
  auto blob = issueSshCertificate(ca, request()).value();
  for (size_t n = 0; n < blob.size(); ++n)
    EXPECT_FALSE(parseSshCertificate(blob.substr(0, n)).ok()) << n;
  EXPECT_FALSE(parseSshCertificate(blob + "x").ok());
  size_t accepted = 0;
  for (size_t i = 0; i < blob.size(); ++i) {
    std::string c = blob;
    c[i] ^= 0x5a;
    auto parsed = parseSshCertificate(c);
    if (!parsed) continue;
    // Whatever still parses must not verify.
    EXPECT_NE(checkSshCertificate(*parsed, expect(ca), nullptr), CertCheck::Ok) << i;
    ++accepted;
  }
  EXPECT_GT(accepted, 0u);  // the loop did reach the verifier
  EXPECT_FALSE(parseSshCertificateLine("ssh-ed25519-cert-v01@openssh.com !!!").ok());
  EXPECT_FALSE(parseSshCertificateLine("ssh-rsa-cert-v01@openssh.com " + base64Encode(blob)).ok());
  EXPECT_FALSE(parseKrl("SSHKRL\n").ok());
}

TEST_F(SshCertTest, CaKeysAreStoredPrivately) {
  // ECDSA: ssh-keygen reads PKCS#8 for it (not for Ed25519) and so serves as
  // the oracle for the public half.
  auto ca = SigningKey::generate(KeyAlgorithm::EcdsaP256).value();
  auto path = dir_ / "ca.key";
  ASSERT_TRUE(ca.save(path).ok());
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_FALSE(ca.save(path).ok()) << "an existing key is never replaced";
  auto back = SigningKey::load(path).value();
  EXPECT_EQ(back.publicBlob(), ca.publicBlob());
  ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
  auto loose = SigningKey::load(path);
  ASSERT_FALSE(loose.ok());
  EXPECT_NE(loose.refusal().message.find("readable by group or others"), std::string::npos);
  // ssh-keygen derives the same public key from our file.
  ASSERT_EQ(::chmod(path.c_str(), 0600), 0);
  auto y = sh(dir_.path(), {"/usr/bin/ssh-keygen", "-y", "-f", path});
  ASSERT_EQ(y.exitCode, 0) << y.err;
  EXPECT_EQ(blobOfLine(y.out), ca.publicBlob());
}

}  // namespace
}  // namespace jitgate

extern "C" int jitgate_test_call_from_c(const char* cert, const char* ca_keys,
                                        const char* principal, const char* source, long long now,
                                        char* why, unsigned why_len);

namespace jitgate {
namespace {

TEST_F(SshCertTest, CAbiAnswersWithCodesAndNeverThrows) {
  auto ca = SigningKey::generate(KeyAlgorithm::Ed25519).value();
  auto line = sshCertificateLine(issueSshCertificate(ca, request()).value(), "c");
  std::string caKeys = "# jitgate CA\n" + ca.publicLine("jitgate-ca") + "\n";
  long long now = now_.time_since_epoch().count();
  char why[256];
  EXPECT_EQ(jitgate_test_call_from_c(line.c_str(), caKeys.c_str(), "alice", "127.0.0.1", now, why,
                                     sizeof why),
            JITGATE_CERT_OK)
      << why;
  // sshd's SSH_AUTH_INFO_0 form.
  std::string info = "publickey " + line.substr(0, line.rfind(' ')) + "\n";
  EXPECT_EQ(jitgate_test_call_from_c(info.c_str(), caKeys.c_str(), "alice", "10.1.2.3", now, why,
                                     sizeof why),
            JITGATE_CERT_OK)
      << why;
  EXPECT_EQ(jitgate_test_call_from_c(line.c_str(), caKeys.c_str(), "bob", "127.0.0.1", now, why,
                                     sizeof why),
            JITGATE_CERT_WRONG_PRINCIPAL);
  EXPECT_EQ(std::string(why).rfind("wrong_principal", 0), 0u) << why;
  {
    auto req = request();
    req.principals = {"alice@vm2"};
    auto vm2 = sshCertificateLine(issueSshCertificate(ca, req).value(), "c");
    EXPECT_EQ(jitgate_test_call_from_c(vm2.c_str(), caKeys.c_str(), "alice", "127.0.0.1", now, why,
                                       sizeof why),
              JITGATE_CERT_WRONG_TARGET);
    EXPECT_EQ(std::string(why).rfind("wrong_target", 0), 0u) << why;
  }
  EXPECT_EQ(jitgate_test_call_from_c(line.c_str(), caKeys.c_str(), "alice", "192.0.2.1", now, why,
                                     sizeof why),
            JITGATE_CERT_SOURCE_NOT_ALLOWED);
  EXPECT_EQ(jitgate_test_call_from_c(line.c_str(), "", "alice", "127.0.0.1", now, why, sizeof why),
            JITGATE_CERT_BAD_CA_KEYS);
  EXPECT_EQ(jitgate_test_call_from_c("garbage", caKeys.c_str(), "alice", "127.0.0.1", now, why,
                                     sizeof why),
            JITGATE_CERT_MALFORMED);
  EXPECT_EQ(jitgate_test_call_from_c(line.c_str(), caKeys.c_str(), "alice", "not-an-ip", now, why,
                                     sizeof why),
            JITGATE_CERT_BAD_ARGUMENT);
  EXPECT_EQ(
      jitgate_test_call_from_c(nullptr, caKeys.c_str(), "alice", "127.0.0.1", now, why, sizeof why),
      JITGATE_CERT_BAD_ARGUMENT);
  // A tiny reason buffer is still NUL-terminated.
  char small[4];
  jitgate_test_call_from_c(line.c_str(), caKeys.c_str(), "bob", "127.0.0.1", now, small,
                           sizeof small);
  EXPECT_EQ(std::string(small), "wro");
  // An unreadable KRL fails closed.
  uint64_t vb = 0;
  const unsigned char junk[] = "not a krl";
  EXPECT_EQ(jitgate_check_ssh_certificate(line.c_str(), caKeys.c_str(), junk, sizeof junk, "alice",
                                          "vm1", "127.0.0.1", now, &vb, why, sizeof why),
            JITGATE_CERT_BAD_KRL);
  // No target to check against: a bad argument, never "any target".
  EXPECT_EQ(jitgate_check_ssh_certificate(line.c_str(), caKeys.c_str(), nullptr, 0, "alice", "",
                                          "127.0.0.1", now, &vb, why, sizeof why),
            JITGATE_CERT_BAD_ARGUMENT);
}

}  // namespace
}  // namespace jitgate

namespace jitgate {
namespace {

// Review findings, each pinned: behave as sshd does, and never sign what
// we did not check.
TEST_F(SshCertTest, MatchesSshdOnPrefixesWrittenInIpv6AndKrlSerialZero) {
  auto ca = SigningKey::generate(KeyAlgorithm::Ed25519).value();
  auto req = request();
  req.sourceAddresses = {Cidr::parse("::/0").value()};
  auto cert = parseSshCertificate(issueSshCertificate(ca, req).value()).value();
  std::string why;
  // sshd never matches an IPv4 client against an IPv6-written prefix.
  EXPECT_EQ(checkSshCertificate(cert, expect(ca), &why), CertCheck::SourceNotAllowed) << why;
  auto v6 = expect(ca);
  v6.source = IpAddress::parse("2001:db8::1").value();
  EXPECT_EQ(checkSshCertificate(cert, v6, &why), CertCheck::Ok) << why;

  auto zero = buildKrl({KrlEntry{ca.publicBlob(), {0}}}, 1, now_, "");
  EXPECT_FALSE(parseKrl(zero).ok()) << "sshd refuses a KRL revoking serial 0";
}

TEST_F(SshCertTest, RefusesToCertifyAKeyBlobWithExtraFields) {
  auto ca = SigningKey::generate(KeyAlgorithm::Ed25519).value();
  auto req = request();
  SshWriter extra;
  extra.string("alice");  // would land where the serial belongs
  req.subjectKey += extra.data();
  auto r = issueSshCertificate(ca, req);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.refusal().field, "key");
  char why[64];
  auto line = sshCertificateLine(issueSshCertificate(ca, request()).value(), "");
  std::string caKeys = ca.publicLine("ca");
  EXPECT_EQ(jitgate_check_ssh_certificate(line.c_str(), caKeys.c_str(), nullptr, 0, "", "vm1",
                                          "127.0.0.1", now_.time_since_epoch().count(), nullptr,
                                          why, sizeof why),
            JITGATE_CERT_BAD_ARGUMENT);
}

}  // namespace
}  // namespace jitgate
