// X.509 client certificates: what we issue must satisfy `openssl verify` and
// `openssl x509`, what openssl signs with our CA key must get the verdict
// it deserves from our verifier, and every refusal has its own reason.
#include "jitgate/x509_ca.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <optional>

#include "../support/process.hpp"
#include "../support/test_support.hpp"
#include "jitgate/ssh_wire.hpp"

namespace jitgate {
namespace {

using namespace std::chrono_literals;
using testing::TempDir;

const std::string kOpenssl = "/usr/bin/openssl";

bool contains(const std::string& haystack, std::string_view needle) {
  return haystack.find(needle) != std::string::npos;
}

std::string epoch(SysTime t) { return std::to_string(t.time_since_epoch().count()); }

std::string pemToDer(const std::string& pem) {
  std::string b64;
  std::istringstream in(pem);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("-----", 0) != 0) b64 += line;
  }
  std::string der;
  EXPECT_TRUE(base64Decode(b64, der));
  return der;
}

std::string derToPem(const std::string& der) {
  std::string b64 = base64Encode(der);
  std::string pem = "-----BEGIN CERTIFICATE-----\n";
  for (size_t i = 0; i < b64.size(); i += 64) pem += b64.substr(i, 64) + "\n";
  return pem + "-----END CERTIFICATE-----\n";
}

class X509CaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    now_ = std::chrono::floor<Seconds>(std::chrono::system_clock::now());
    auto ca = X509Authority::create("jitgate test CA", now_);
    ASSERT_TRUE(ca) << ca.refusal().describe();
    ca_.emplace(std::move(ca).value());
  }

  X509ClientSpec spec() const {
    X509ClientSpec s;
    s.user = "alice";
    s.upnDomain = "corp.example";
    s.grantId = "g-0123456789abcdef";
    s.target = "vm1";
    s.serial = 4242;
    s.notBefore = now_ - 60s;
    s.notAfter = now_ + 1h;
    return s;
  }

  X509Issued issue(const X509ClientSpec& s) const {
    auto issued = ca_->issueClient(s);
    EXPECT_TRUE(issued) << issued.refusal().describe();
    return issued ? std::move(issued).value() : X509Issued{};
  }

  std::string write(const std::string& name, const std::string& content) const {
    std::ofstream(dir_ / name, std::ios::binary) << content;
    return dir_ / name;
  }

  testing::RunResult openssl(std::vector<std::string> args) const {
    args.insert(args.begin(), kOpenssl);
    return testing::run(args, dir_.path());
  }

  // Signs a fresh P-256 key's request for CN=`cn` with our CA key through
  // the openssl CLI, with the extensions in `ext` (openssl.cnf syntax). Its
  // notBefore is the CLI's clock, so check it at cliNow().
  std::string opensslSigned(const std::string& name, const std::string& cn, const std::string& ext,
                            const std::string& serial = "77") {
    write("ca.pem", ca_->certPem());
    write("ca.key", ca_->keyPem());
    write(name + ".ext", ext);
    auto req = openssl({"req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                        "-nodes", "-keyout", dir_ / (name + ".key"), "-out", dir_ / (name + ".csr"),
                        "-subj", "/CN=" + cn});
    EXPECT_EQ(req.exitCode, 0) << req.err;
    auto sign = openssl({"x509", "-req", "-in", dir_ / (name + ".csr"), "-CA", dir_ / "ca.pem",
                         "-CAkey", dir_ / "ca.key", "-set_serial", serial, "-days", "1", "-extfile",
                         dir_ / (name + ".ext"), "-out", dir_ / (name + ".pem")});
    EXPECT_EQ(sign.exitCode, 0) << sign.err;
    return testing::slurp(dir_ / (name + ".pem"));
  }
  SysTime cliNow() const { return now_ + 5min; }

  X509Check checkOf(std::string_view pem, SysTime at, const std::set<uint64_t>& revoked = {},
                    std::string* why = nullptr) const {
    return ca_->check(pem, at, revoked, nullptr, why);
  }

  TempDir dir_;
  SysTime now_;
  std::optional<X509Authority> ca_;
};

// ---- what openssl sees in what we issue -------------------------------------

TEST_F(X509CaTest, OpensslSeesACaCertificate) {
  auto ca = write("ca.pem", ca_->certPem());
  auto text = openssl({"x509", "-noout", "-text", "-in", ca});
  ASSERT_EQ(text.exitCode, 0) << text.err;
  const auto& out = text.out;
  EXPECT_TRUE(contains(out, "Subject: CN = jitgate test CA")) << out;
  EXPECT_TRUE(contains(out, "Issuer: CN = jitgate test CA")) << out;
  EXPECT_TRUE(contains(out, "X509v3 Basic Constraints: critical\n                CA:TRUE")) << out;
  EXPECT_TRUE(
      contains(out, "X509v3 Key Usage: critical\n                Certificate Sign, CRL Sign"))
      << out;
  EXPECT_TRUE(contains(out, "X509v3 Subject Key Identifier")) << out;
  EXPECT_TRUE(contains(out, "ASN1 OID: prime256v1")) << out;
  EXPECT_TRUE(contains(out, "Signature Algorithm: ecdsa-with-SHA256")) << out;
  EXPECT_EQ(openssl({"verify", "-CAfile", ca, ca}).exitCode, 0);
  // Valid for ten years from an hour ago.
  EXPECT_EQ(
      openssl({"x509", "-noout", "-checkend", std::to_string(9 * 365 * 86400), "-in", ca}).exitCode,
      0);
  EXPECT_EQ(openssl({"x509", "-noout", "-checkend", std::to_string(11 * 365 * 86400), "-in", ca})
                .exitCode,
            1);
  EXPECT_NE(openssl({"verify", "-attime", epoch(now_ - 2h), "-CAfile", ca, ca}).exitCode, 0);
  EXPECT_EQ(openssl({"verify", "-attime", epoch(now_ - 1h), "-CAfile", ca, ca}).exitCode, 0);
}

TEST_F(X509CaTest, OpensslVerifiesTheClientCertificateForClientAuth) {
  auto issued = issue(spec());
  auto ca = write("ca.pem", ca_->certPem());
  auto client = write("client.pem", issued.certPem);
  auto verified = openssl({"verify", "-purpose", "sslclient", "-CAfile", ca, client});
  EXPECT_EQ(verified.exitCode, 0) << verified.out << verified.err;
  EXPECT_TRUE(contains(verified.out, client + ": OK")) << verified.out;
  // Issued for a client, not a server.
  EXPECT_NE(openssl({"verify", "-purpose", "sslserver", "-CAfile", ca, client}).exitCode, 0);
}

TEST_F(X509CaTest, OpensslRefusesItUnderAnotherCaWithTheSameName) {
  auto other = X509Authority::create("jitgate test CA", now_).value();
  auto ca = write("ca.pem", ca_->certPem());
  auto client = write("client.pem", other.issueClient(spec()).value().certPem);
  EXPECT_NE(openssl({"verify", "-purpose", "sslclient", "-CAfile", ca, client}).exitCode, 0);
}

TEST_F(X509CaTest, OpensslRefusesItOutsideTheGrantWindow) {
  auto s = spec();
  auto ca = write("ca.pem", ca_->certPem());
  auto client = write("client.pem", issue(s).certPem);
  auto at = [&](SysTime t) {
    return openssl({"verify", "-purpose", "sslclient", "-attime", epoch(t), "-CAfile", ca, client});
  };
  auto after = at(s.notAfter + 1s);
  EXPECT_NE(after.exitCode, 0);
  EXPECT_TRUE(contains(after.out + after.err, "certificate has expired")) << after.out << after.err;
  auto before = at(s.notBefore - 1s);
  EXPECT_NE(before.exitCode, 0);
  EXPECT_TRUE(contains(before.out + before.err, "certificate is not yet valid"))
      << before.out << before.err;
  EXPECT_EQ(at(s.notBefore).exitCode, 0);
  EXPECT_EQ(at(s.notAfter - 1s).exitCode, 0);
}

TEST_F(X509CaTest, OpensslShowsTheFieldsWeSet) {
  auto client = write("client.pem", issue(spec()).certPem);
  auto text = openssl({"x509", "-noout", "-text", "-in", client});
  ASSERT_EQ(text.exitCode, 0) << text.err;
  const auto& out = text.out;
  EXPECT_TRUE(contains(out, "Subject: CN = alice\n")) << out;
  EXPECT_TRUE(contains(out, "Issuer: CN = jitgate test CA")) << out;
  EXPECT_TRUE(contains(out, "othername: UPN::alice@corp.example")) << out;
  EXPECT_TRUE(contains(out, "URI:urn:jitgate:grant:g-0123456789abcdef")) << out;
  EXPECT_TRUE(contains(out, "URI:urn:jitgate:target:vm1")) << out;
  EXPECT_TRUE(
      contains(out, "X509v3 Extended Key Usage: \n                TLS Web Client Authentication\n"))
      << out;
  EXPECT_FALSE(contains(out, "TLS Web Server Authentication")) << out;
  EXPECT_TRUE(contains(out, "X509v3 Key Usage: critical\n                Digital Signature\n"))
      << out;
  EXPECT_TRUE(contains(out, "CA:FALSE")) << out;
  EXPECT_TRUE(contains(out, "X509v3 Authority Key Identifier")) << out;
  EXPECT_TRUE(contains(out, "ASN1 OID: prime256v1")) << out;
  EXPECT_TRUE(contains(out, "Signature Algorithm: ecdsa-with-SHA256")) << out;
  auto serial = openssl({"x509", "-noout", "-serial", "-in", client});
  EXPECT_EQ(serial.out, "serial=1092\n");  // 4242
}

TEST_F(X509CaTest, OpensslCheckendSeesTheGrantWindow) {
  auto client = write("client.pem", issue(spec()).certPem);  // ends in an hour
  EXPECT_EQ(openssl({"x509", "-noout", "-checkend", "600", "-in", client}).exitCode, 0);
  auto late = openssl({"x509", "-noout", "-checkend", "3700", "-in", client});
  EXPECT_EQ(late.exitCode, 1);
  EXPECT_TRUE(contains(late.out, "Certificate will expire")) << late.out;
}

TEST_F(X509CaTest, KeysArePkcs8AndMatchTheirCertificates) {
  auto issued = issue(spec());
  EXPECT_EQ(issued.keyPem.rfind("-----BEGIN PRIVATE KEY-----\n", 0), 0u) << issued.keyPem;
  EXPECT_EQ(issued.serial, 4242u);
  struct Pair {
    std::string key, cert;
  };
  for (const auto& [key, cert] :
       {Pair{issued.keyPem, issued.certPem}, Pair{ca_->keyPem(), ca_->certPem()}}) {
    EXPECT_EQ(key.rfind("-----BEGIN PRIVATE KEY-----\n", 0), 0u);
    auto k = write("k.pem", key);
    auto c = write("c.pem", cert);
    EXPECT_EQ(openssl({"pkey", "-in", k, "-check", "-noout"}).exitCode, 0);
    auto fromKey = openssl({"pkey", "-in", k, "-pubout"});
    auto fromCert = openssl({"x509", "-in", c, "-noout", "-pubkey"});
    ASSERT_EQ(fromKey.exitCode, 0) << fromKey.err;
    EXPECT_EQ(fromKey.out, fromCert.out);
  }
  // A fresh key for every certificate.
  EXPECT_NE(issue(spec()).keyPem, issued.keyPem);
}

// ---- our verifier -------------------------------------------------------------

TEST_F(X509CaTest, AcceptsWhatItIssued) {
  auto s = spec();
  auto issued = issue(s);
  auto verified = ca_->verify(issued.certPem, now_, {});
  ASSERT_TRUE(verified) << verified.refusal().describe();
  EXPECT_EQ(verified->user, "alice");
  EXPECT_EQ(verified->grantId, "g-0123456789abcdef");
  EXPECT_EQ(verified->target, "vm1");
  EXPECT_EQ(verified->serial, 4242u);
  EXPECT_EQ(verified->notBefore, s.notBefore);
  EXPECT_EQ(verified->notAfter, s.notAfter);

  X509Verified out;
  std::string why = "stale";
  EXPECT_EQ(ca_->check(issued.certPem, now_, {1, 2, 3}, &out, &why), X509Check::Ok);
  EXPECT_EQ(why, "");
  EXPECT_EQ(out.user, "alice");
  EXPECT_EQ(ca_->check(issued.certPem, now_, {}, nullptr, nullptr), X509Check::Ok);

  // The default UPN domain.
  s.upnDomain.clear();
  auto client = write("client.pem", issue(s).certPem);
  auto text = openssl({"x509", "-noout", "-text", "-in", client});
  EXPECT_TRUE(contains(text.out, "othername: UPN::alice@jitgate,")) << text.out;
}

TEST_F(X509CaTest, ValidityIsHalfOpenLikeOpensslReadsIt) {
  auto s = spec();
  auto pem = issue(s).certPem;
  std::string why;
  EXPECT_EQ(checkOf(pem, s.notBefore, {}, &why), X509Check::Ok) << why;
  EXPECT_EQ(checkOf(pem, s.notAfter - 1s, {}, &why), X509Check::Ok) << why;
  EXPECT_EQ(checkOf(pem, s.notAfter, {}, &why), X509Check::Expired);
}

TEST_F(X509CaTest, RefusesExpired) {
  auto s = spec();
  auto pem = issue(s).certPem;
  auto r = ca_->verify(pem, s.notAfter + 1s, {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.refusal().code, RefusalCode::PolicyViolation);
  EXPECT_EQ(r.refusal().field, "certificate");
  EXPECT_EQ(r.refusal().message.rfind("expired: ", 0), 0u) << r.refusal().message;
  EXPECT_TRUE(contains(r.refusal().message, "notAfter " + formatTimestamp(s.notAfter)))
      << r.refusal().message;
  std::string why;
  X509Verified out;
  out.user = "untouched";
  EXPECT_EQ(ca_->check(pem, s.notAfter + 1s, {}, &out, &why), X509Check::Expired);
  EXPECT_EQ(why, r.refusal().message);
  EXPECT_EQ(out.user, "untouched");  // filled only on Ok
}

TEST_F(X509CaTest, RefusesNotYetValid) {
  auto s = spec();
  auto pem = issue(s).certPem;
  std::string why;
  EXPECT_EQ(checkOf(pem, s.notBefore - 1s, {}, &why), X509Check::NotYetValid);
  EXPECT_EQ(why.rfind("not_yet_valid: ", 0), 0u) << why;
}

TEST_F(X509CaTest, RefusesAnotherCasCertificate) {
  // Same CA name: only the key (AKI and signature) tells them apart.
  auto other = X509Authority::create("jitgate test CA", now_).value();
  std::string why;
  EXPECT_EQ(checkOf(other.issueClient(spec()).value().certPem, now_, {}, &why),
            X509Check::UntrustedIssuer);
  EXPECT_EQ(why.rfind("untrusted_issuer: ", 0), 0u) << why;
  // And a CA's own certificate is not a client certificate of ours.
  EXPECT_EQ(checkOf(other.certPem(), now_), X509Check::UntrustedIssuer);
}

TEST_F(X509CaTest, RefusesOurOwnCaCertificateAsAClient) {
  std::string why;
  EXPECT_NE(checkOf(ca_->certPem(), now_, {}, &why), X509Check::Ok);
  EXPECT_EQ(checkOf(ca_->certPem(), now_), X509Check::NotClientAuth) << why;
}

TEST_F(X509CaTest, RefusesATamperedCertificate) {
  auto pem = issue(spec()).certPem;
  auto der = pemToDer(pem);
  ASSERT_EQ(checkOf(derToPem(der), now_), X509Check::Ok);  // the round trip is faithful

  auto badSig = der;
  badSig.back() ^= 0x01;  // the last byte of the ECDSA signature
  std::string why;
  EXPECT_EQ(checkOf(derToPem(badSig), now_, {}, &why), X509Check::BadSignature);
  EXPECT_EQ(why.rfind("bad_signature: ", 0), 0u) << why;
  write("ca.pem", ca_->certPem());
  write("bad.pem", derToPem(badSig));
  EXPECT_NE(
      openssl({"verify", "-purpose", "sslclient", "-CAfile", dir_ / "ca.pem", dir_ / "bad.pem"})
          .exitCode,
      0);

  auto renamed = der;  // a signed field: the subject CN
  auto pos = renamed.find("alice");
  ASSERT_NE(pos, std::string::npos);
  renamed[pos] = 'b';
  EXPECT_EQ(checkOf(derToPem(renamed), now_), X509Check::BadSignature);
}

TEST_F(X509CaTest, RefusesRevoked) {
  auto pem = issue(spec()).certPem;
  std::string why;
  EXPECT_EQ(checkOf(pem, now_, {1, 4242, 9999}, &why), X509Check::Revoked);
  EXPECT_EQ(why, "revoked: serial 4242 is revoked");
  EXPECT_EQ(checkOf(pem, now_, {4241, 4243}), X509Check::Ok);
  EXPECT_EQ(ca_->verify(pem, now_, {4242}).refusal().code, RefusalCode::PolicyViolation);
}

TEST_F(X509CaTest, RefusesACertificateWithoutClientAuth) {
  const std::string san =
      "subjectAltName=otherName:1.3.6.1.4.1.311.20.2.3;UTF8:alice@jitgate,"
      "URI:urn:jitgate:grant:g1,URI:urn:jitgate:target:vm1\n";
  auto server = opensslSigned("server", "alice", san + "extendedKeyUsage=serverAuth\n");
  std::string why;
  EXPECT_EQ(checkOf(server, cliNow(), {}, &why), X509Check::NotClientAuth);
  EXPECT_EQ(why.rfind("not_client_auth: ", 0), 0u) << why;
  EXPECT_NE(
      openssl({"verify", "-purpose", "sslclient", "-CAfile", dir_ / "ca.pem", dir_ / "server.pem"})
          .exitCode,
      0);

  // No EKU at all: the sslclient purpose lets it through, we do not.
  auto noEku = opensslSigned("noeku", "alice", san);
  EXPECT_EQ(
      openssl({"verify", "-purpose", "sslclient", "-CAfile", dir_ / "ca.pem", dir_ / "noeku.pem"})
          .exitCode,
      0);
  EXPECT_EQ(checkOf(noEku, cliNow(), {}, &why), X509Check::NotClientAuth);
  EXPECT_TRUE(contains(why, "extendedKeyUsage clientAuth is missing")) << why;

  // The control: the same recipe with clientAuth is accepted, so the
  // refusals above are about the EKU and nothing else.
  auto client = opensslSigned("client", "alice", san + "extendedKeyUsage=clientAuth\n");
  X509Verified out;
  EXPECT_EQ(ca_->check(client, cliNow(), {}, &out, &why), X509Check::Ok) << why;
  EXPECT_EQ(out.grantId, "g1");
  EXPECT_EQ(out.target, "vm1");
  EXPECT_EQ(out.serial, 77u);
}

TEST_F(X509CaTest, RefusesACertificateWithoutAGrantId) {
  const std::string eku = "extendedKeyUsage=clientAuth\n";
  const std::string upn = "otherName:1.3.6.1.4.1.311.20.2.3;UTF8:alice@jitgate";
  std::string why;

  auto noUri = opensslSigned("nouri", "alice", eku + "subjectAltName=" + upn + "\n");
  EXPECT_EQ(checkOf(noUri, cliNow(), {}, &why), X509Check::NoGrantId);
  EXPECT_EQ(why.rfind("no_grant_id: ", 0), 0u) << why;

  auto noSan = opensslSigned("nosan", "alice", eku);
  EXPECT_EQ(checkOf(noSan, cliNow(), {}, &why), X509Check::NoGrantId);

  auto otherUri = opensslSigned("otheruri", "alice",
                                eku + "subjectAltName=" + upn + ",URI:https://example.com/g1\n");
  EXPECT_EQ(checkOf(otherUri, cliNow(), {}, &why), X509Check::NoGrantId);

  auto badId = opensslSigned("badid", "alice",
                             eku + "subjectAltName=" + upn + ",URI:urn:jitgate:grant:a/b\n");
  EXPECT_EQ(checkOf(badId, cliNow(), {}, &why), X509Check::NoGrantId);

  auto twoIds = opensslSigned(
      "twoids", "alice",
      eku + "subjectAltName=" + upn + ",URI:urn:jitgate:grant:g1,URI:urn:jitgate:grant:g2\n");
  EXPECT_EQ(checkOf(twoIds, cliNow(), {}, &why), X509Check::NoGrantId);
  EXPECT_TRUE(contains(why, "more than one")) << why;
}

// A certificate opens only its grant's target: one that names none (or
// two, or a bad name) is refused; the caller compares the one it names.
TEST_F(X509CaTest, RefusesACertificateWithoutATarget) {
  const std::string eku = "extendedKeyUsage=clientAuth\n";
  const std::string san = eku +
                          "subjectAltName=otherName:1.3.6.1.4.1.311.20.2.3;UTF8:alice@jitgate,"
                          "URI:urn:jitgate:grant:g1";
  std::string why;
  auto none = opensslSigned("notarget", "alice", san + "\n");
  EXPECT_EQ(checkOf(none, cliNow(), {}, &why), X509Check::NoTarget);
  EXPECT_EQ(why, "no_target: no urn:jitgate:target: URI");
  auto two = opensslSigned("twotargets", "alice",
                           san + ",URI:urn:jitgate:target:vm1,URI:urn:jitgate:target:vm2\n");
  EXPECT_EQ(checkOf(two, cliNow(), {}, &why), X509Check::NoTarget);
  EXPECT_TRUE(contains(why, "more than one target URI")) << why;
  auto bad = opensslSigned("badtarget", "alice", san + ",URI:urn:jitgate:target:vm1/x\n");
  EXPECT_EQ(checkOf(bad, cliNow(), {}, &why), X509Check::NoTarget);
  auto one = opensslSigned("onetarget", "alice", san + ",URI:urn:jitgate:target:vm2\n");
  X509Verified out;
  EXPECT_EQ(ca_->check(one, cliNow(), {}, &out, &why), X509Check::Ok) << why;
  EXPECT_EQ(out.target, "vm2");
}

TEST_F(X509CaTest, RefusesAUpnThatNamesSomeoneElse) {
  const std::string eku = "extendedKeyUsage=clientAuth\n";
  const std::string uri = ",URI:urn:jitgate:grant:g1,URI:urn:jitgate:target:vm1\n";
  std::string why;
  auto bob =
      opensslSigned("bob", "alice",
                    eku + "subjectAltName=otherName:1.3.6.1.4.1.311.20.2.3;UTF8:bob@jitgate" + uri);
  EXPECT_EQ(checkOf(bob, cliNow(), {}, &why), X509Check::Malformed);
  EXPECT_TRUE(contains(why, "UPN")) << why;
  auto prefix = opensslSigned(
      "prefix", "alice",
      eku + "subjectAltName=otherName:1.3.6.1.4.1.311.20.2.3;UTF8:alice2@jitgate" + uri);
  EXPECT_EQ(checkOf(prefix, cliNow(), {}, &why), X509Check::Malformed);
  auto noUpn = opensslSigned("noupn", "alice", eku + "subjectAltName=DNS:example.com" + uri);
  EXPECT_EQ(checkOf(noUpn, cliNow(), {}, &why), X509Check::Malformed);
  auto badCn = opensslSigned(
      "badcn", "alice smith",
      eku + "subjectAltName=otherName:1.3.6.1.4.1.311.20.2.3;UTF8:alice@jitgate" + uri);
  EXPECT_EQ(checkOf(badCn, cliNow(), {}, &why), X509Check::Malformed);
  EXPECT_TRUE(contains(why, "CN")) << why;
}

TEST_F(X509CaTest, RefusesWhatIsNotOneCertificate) {
  auto pem = issue(spec()).certPem;
  auto malformed = [&](std::string_view input) {
    std::string why;
    X509Check c = checkOf(input, now_, {}, &why);
    EXPECT_EQ(why.rfind("malformed: ", 0), 0u) << why;
    return c;
  };
  EXPECT_EQ(malformed(""), X509Check::Malformed);
  EXPECT_EQ(malformed("garbage"), X509Check::Malformed);
  EXPECT_EQ(malformed(std::string(100000, 'A')), X509Check::Malformed);
  EXPECT_EQ(malformed(pem.substr(0, pem.size() / 2)), X509Check::Malformed);
  EXPECT_EQ(malformed(pem.substr(0, pem.size() - 30)), X509Check::Malformed);  // no END line
  auto corrupt = pem;
  corrupt[40] = '*';
  EXPECT_EQ(malformed(corrupt), X509Check::Malformed);
  EXPECT_EQ(malformed("junk\n" + pem), X509Check::Malformed);
  EXPECT_EQ(malformed(pem + pem), X509Check::Malformed);
  EXPECT_EQ(malformed(pem + "junk\n"), X509Check::Malformed);
  EXPECT_EQ(malformed(issue(spec()).keyPem), X509Check::Malformed);
  // DER inside the PEM armour that is not a certificate, or is one with
  // bytes after it.
  EXPECT_EQ(malformed(derToPem(std::string("\x30\x03\x02\x01\x01", 5))), X509Check::Malformed);
  EXPECT_EQ(malformed(derToPem(pemToDer(pem) + std::string(1, '\0'))), X509Check::Malformed);
  // An encrypted-PEM header has no business on a certificate.
  auto withHeader = pem;
  withHeader.insert(
      withHeader.find('\n') + 1,
      "Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00000000000000000000000000000000\n\n");
  EXPECT_EQ(malformed(withHeader), X509Check::Malformed);
  EXPECT_EQ(ca_->verify("garbage", now_, {}).refusal().code, RefusalCode::InvalidArgument);

  // Bounded: whitespace around one certificate is fine up to 64 KiB in all.
  auto padded = "\n\n" + pem;
  padded.resize(kMaxX509PemBytes, '\n');
  std::string why;
  EXPECT_EQ(checkOf(padded, now_, {}, &why), X509Check::Ok) << why;
  padded.push_back('\n');
  EXPECT_EQ(malformed(padded), X509Check::Malformed);
}

TEST(X509CheckNames, AreStable) {
  EXPECT_EQ(toString(X509Check::Ok), "ok");
  EXPECT_EQ(toString(X509Check::Malformed), "malformed");
  EXPECT_EQ(toString(X509Check::UntrustedIssuer), "untrusted_issuer");
  EXPECT_EQ(toString(X509Check::BadSignature), "bad_signature");
  EXPECT_EQ(toString(X509Check::NotYetValid), "not_yet_valid");
  EXPECT_EQ(toString(X509Check::Expired), "expired");
  EXPECT_EQ(toString(X509Check::NotClientAuth), "not_client_auth");
  EXPECT_EQ(toString(X509Check::NoGrantId), "no_grant_id");
  EXPECT_EQ(toString(X509Check::Revoked), "revoked");
  EXPECT_EQ(toString(X509Check::Unavailable), "unavailable");
}

// ---- issuing refuses what it cannot stand behind ------------------------------

TEST_F(X509CaTest, IssuingRefusesBadSpecs) {
  auto refusedField = [&](const X509ClientSpec& s) {
    auto r = ca_->issueClient(s);
    if (r) return std::string("<issued>");
    EXPECT_EQ(r.refusal().code, RefusalCode::InvalidArgument);
    return r.refusal().field;
  };
  for (const char* user : {"", "alice smith", "alice,O=evil", "al/ice", "alice@corp", "\xc3\xa9"}) {
    auto s = spec();
    s.user = user;
    EXPECT_EQ(refusedField(s), "user") << user;
  }
  auto longUser = spec();
  longUser.user = std::string(65, 'a');
  EXPECT_EQ(refusedField(longUser), "user");
  longUser.user = std::string(64, 'a');
  EXPECT_EQ(refusedField(longUser), "<issued>");

  for (const char* domain : {"a..b", ".corp", "corp.", "-corp.example", "corp,URI:x", "c p"}) {
    auto s = spec();
    s.upnDomain = domain;
    EXPECT_EQ(refusedField(s), "upnDomain") << domain;
  }
  for (const char* id : {"", "a/b", "a b", "g:1"}) {
    auto s = spec();
    s.grantId = id;
    EXPECT_EQ(refusedField(s), "grantId") << id;
  }
  for (const char* target : {"", "a/b", "vm1@x", "a b"}) {
    auto s = spec();
    s.target = target;
    EXPECT_EQ(refusedField(s), "target") << target;
  }
  for (uint64_t serial : {uint64_t{0}, uint64_t{1} << 63, ~uint64_t{0}}) {
    auto s = spec();
    s.serial = serial;
    EXPECT_EQ(refusedField(s), "serial") << serial;
  }
  auto maxSerial = spec();
  maxSerial.serial = (uint64_t{1} << 63) - 1;
  auto issued = ca_->issueClient(maxSerial);
  ASSERT_TRUE(issued);
  X509Verified out;
  EXPECT_EQ(ca_->check(issued->certPem, now_, {}, &out, nullptr), X509Check::Ok);
  EXPECT_EQ(out.serial, maxSerial.serial);

  auto empty = spec();
  empty.notAfter = empty.notBefore;
  EXPECT_EQ(refusedField(empty), "notAfter");
  auto reversed = spec();
  reversed.notAfter = reversed.notBefore - 1s;
  EXPECT_EQ(refusedField(reversed), "notAfter");
  auto outlivesCa = spec();
  outlivesCa.notAfter = now_ + std::chrono::duration_cast<Seconds>(std::chrono::years(11));
  EXPECT_EQ(refusedField(outlivesCa), "notAfter");
  auto beforeEpoch = spec();
  beforeEpoch.notBefore = SysTime{} - 1s;
  EXPECT_EQ(refusedField(beforeEpoch), "notBefore");
}

TEST(X509AuthorityCreate, RefusesABadName) {
  auto now = std::chrono::floor<Seconds>(std::chrono::system_clock::now());
  EXPECT_EQ(X509Authority::create("", now).refusal().field, "commonName");
  EXPECT_EQ(X509Authority::create(std::string(65, 'a'), now).refusal().field, "commonName");
  EXPECT_EQ(X509Authority::create("ca\nname", now).refusal().field, "commonName");
  EXPECT_TRUE(X509Authority::create(std::string(64, 'a'), now));
}

// ---- loading a CA ---------------------------------------------------------------

TEST_F(X509CaTest, FromPemRoundTrips) {
  auto loaded = X509Authority::fromPem(ca_->keyPem(), ca_->certPem());
  ASSERT_TRUE(loaded) << loaded.refusal().describe();
  EXPECT_EQ(loaded->keyPem(), ca_->keyPem());
  EXPECT_EQ(loaded->certPem(), ca_->certPem());
  auto byLoaded = loaded->issueClient(spec()).value();
  EXPECT_EQ(checkOf(byLoaded.certPem, now_), X509Check::Ok);
  auto byOriginal = issue(spec());
  EXPECT_EQ(loaded->check(byOriginal.certPem, now_, {}, nullptr, nullptr), X509Check::Ok);
}

TEST_F(X509CaTest, FromPemLoadsACaMadeByOpenssl) {
  auto made = openssl({"req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", dir_ / "rsa.key",
                       "-out", dir_ / "rsa.pem", "-subj", "/CN=corp CA", "-days", "30", "-addext",
                       "keyUsage=critical,keyCertSign,cRLSign"});
  ASSERT_EQ(made.exitCode, 0) << made.err;
  auto ca =
      X509Authority::fromPem(testing::slurp(dir_ / "rsa.key"), testing::slurp(dir_ / "rsa.pem"));
  ASSERT_TRUE(ca) << ca.refusal().describe();
  // openssl's CA starts when openssl ran, which under load can be seconds
  // after the fixture's clock: the client certificate starts after it.
  auto started = std::chrono::floor<Seconds>(std::chrono::system_clock::now()) + 1s;
  auto s = spec();
  s.notBefore = started;
  auto issued = ca->issueClient(s);
  ASSERT_TRUE(issued) << issued.refusal().describe();
  write("client.pem", issued->certPem);
  auto verified = openssl({"verify", "-purpose", "sslclient", "-attime",
                           std::to_string(started.time_since_epoch().count() + 1), "-CAfile",
                           dir_ / "rsa.pem", dir_ / "client.pem"});
  EXPECT_EQ(verified.exitCode, 0) << verified.out << verified.err;
  std::string why;
  EXPECT_EQ(ca->check(issued->certPem, started + 1s, {}, nullptr, &why), X509Check::Ok) << why;
}

TEST_F(X509CaTest, FromPemRefusesANonCaCertificate) {
  auto issued = issue(spec());
  auto r = X509Authority::fromPem(issued.keyPem, issued.certPem);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.refusal().code, RefusalCode::InvalidArgument);
  EXPECT_EQ(r.refusal().field, "certPem");

  // keyUsage without keyCertSign, even with CA:TRUE.
  auto made = openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                       "-nodes", "-keyout", dir_ / "ku.key", "-out", dir_ / "ku.pem", "-subj",
                       "/CN=ku", "-days", "30", "-addext", "keyUsage=critical,digitalSignature"});
  ASSERT_EQ(made.exitCode, 0) << made.err;
  EXPECT_EQ(X509Authority::fromPem(testing::slurp(dir_ / "ku.key"), testing::slurp(dir_ / "ku.pem"))
                .refusal()
                .field,
            "certPem");
}

TEST_F(X509CaTest, FromPemRefusesAMismatchedKey) {
  auto other = X509Authority::create("jitgate test CA", now_).value();
  auto r = X509Authority::fromPem(other.keyPem(), ca_->certPem());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.refusal().code, RefusalCode::InvalidArgument);
  EXPECT_EQ(r.refusal().field, "keyPem");
  EXPECT_TRUE(contains(r.refusal().message, "does not match")) << r.refusal().message;
}

TEST_F(X509CaTest, FromPemRefusesWhatItCannotRead) {
  auto field = [](const std::string& key, const std::string& cert) {
    auto r = X509Authority::fromPem(key, cert);
    return r ? std::string("<loaded>") : r.refusal().field;
  };
  EXPECT_EQ(field("", ca_->certPem()), "keyPem");
  EXPECT_EQ(field("garbage", ca_->certPem()), "keyPem");
  EXPECT_EQ(field(ca_->keyPem(), ""), "certPem");
  EXPECT_EQ(field(ca_->keyPem(), ca_->certPem().substr(0, 200)), "certPem");
  EXPECT_EQ(field(ca_->keyPem() + std::string(kMaxX509PemBytes, '\n'), ca_->certPem()), "keyPem");
  EXPECT_EQ(field(ca_->keyPem(), ca_->certPem() + std::string(kMaxX509PemBytes, '\n')), "certPem");

  // An encrypted key is refused, without asking anyone for a passphrase.
  write("ca.key", ca_->keyPem());
  auto enc = openssl({"pkey", "-in", dir_ / "ca.key", "-aes256", "-passout", "pass:secret", "-out",
                      dir_ / "enc.key"});
  ASSERT_EQ(enc.exitCode, 0) << enc.err;
  EXPECT_EQ(field(testing::slurp(dir_ / "enc.key"), ca_->certPem()), "keyPem");

  // An Ed25519 CA: we sign with SHA-256, which Ed25519 does not take.
  auto ed = openssl({"req", "-x509", "-newkey", "ed25519", "-nodes", "-keyout", dir_ / "ed.key",
                     "-out", dir_ / "ed.pem", "-subj", "/CN=ed", "-days", "30"});
  ASSERT_EQ(ed.exitCode, 0) << ed.err;
  EXPECT_EQ(field(testing::slurp(dir_ / "ed.key"), testing::slurp(dir_ / "ed.pem")), "keyPem");
}

// ---- the issued key is a secret ----------------------------------------------

TEST(X509IssuedTest, CopiesAndMovesKeepTheValue) {
  X509Issued a;
  a.keyPem = std::string(300, 'k');
  a.certPem = "cert";
  a.serial = 7;
  X509Issued b = a;
  EXPECT_EQ(b.keyPem, a.keyPem);
  X509Issued c = std::move(a);
  EXPECT_EQ(c.keyPem, std::string(300, 'k'));
  EXPECT_EQ(c.serial, 7u);
  EXPECT_TRUE(a.keyPem.empty());  // NOLINT(bugprone-use-after-move): the point of the test
  X509Issued d;
  d.keyPem = "old";
  d = std::move(c);
  EXPECT_EQ(d.keyPem, std::string(300, 'k'));
  EXPECT_TRUE(c.keyPem.empty());  // NOLINT(bugprone-use-after-move)
  d = b;
  EXPECT_EQ(d.keyPem, b.keyPem);
  X509Issued& self = d;
  d = self;  // self-assignment keeps the value
  EXPECT_EQ(d.keyPem, b.keyPem);
}

}  // namespace
}  // namespace jitgate
