// The HTTPS front's own certificate: its lifetime, and when it is made again.
#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../support/process.hpp"
#include "../support/test_support.hpp"
#include "jitgate/handle.hpp"
#include "jitgate/proxy/winrm_front.hpp"

namespace jitgate {
namespace {

struct Lifetime {
  int days = -1;      // notBefore to notAfter
  int daysLeft = -1;  // now to notAfter
};

Lifetime lifetimeOf(const std::string& certFile) {
  BioPtr bio(BIO_new_file(certFile.c_str(), "r"));
  X509Ptr cert(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  Lifetime l;
  int secs = 0;
  if (!cert ||
      ASN1_TIME_diff(&l.days, &secs, X509_get0_notBefore(cert.get()),
                     X509_get0_notAfter(cert.get())) != 1 ||
      ASN1_TIME_diff(&l.daysLeft, &secs, nullptr, X509_get0_notAfter(cert.get())) != 1)
    return {};
  return l;
}

class WinrmTlsCertificateTest : public ::testing::Test {
 protected:
  std::string certFile() { return dir_ / "winrm/tls.crt"; }
  std::string keyFile() { return dir_ / "winrm/tls.key"; }
  Result<WinrmTlsFiles> ensure() { return ensureWinrmServerCertificate({}, dir_.path()); }
  // A certificate made with openssl(1) where jitgated keeps its own.
  void place(const std::string& commonName, int days) {
    ::mkdir((dir_ / "winrm").c_str(), 0700);
    auto r = testing::run({"/usr/bin/openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                           "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=" + commonName,
                           "-days", std::to_string(days), "-keyout", keyFile(), "-out", certFile()},
                          dir_.path());
    ASSERT_EQ(r.exitCode, 0) << r.err;
    ::chmod(keyFile().c_str(), 0600);
  }
  testing::TempDir dir_;
};

TEST_F(WinrmTlsCertificateTest, MadeOnFirstStartForAtMost397Days) {
  ASSERT_TRUE(ensure());
  auto l = lifetimeOf(certFile());
  EXPECT_EQ(l.days, 397);  // and an hour before now, for clocks slightly behind
  EXPECT_GE(l.daysLeft, 396);
  struct stat st {};
  ASSERT_EQ(::stat(keyFile().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

// RFC 5280 serials are positive; TLS scanners (testssl) flag ones under 8
// bytes. A 63-bit random serial with its top bit set is 8 bytes in DER every
// time (with any top bit, 1 in 128 came out as 7 bytes).
TEST_F(WinrmTlsCertificateTest, ItsSerialIsAlwaysEightBytesAndPositive) {
  for (int i = 0; i < 200; ++i) {
    ::unlink(certFile().c_str());
    ::unlink(keyFile().c_str());
    ASSERT_TRUE(ensure());
    BioPtr bio(BIO_new_file(certFile().c_str(), "r"));
    X509Ptr cert(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
    ASSERT_TRUE(cert);
    const ASN1_INTEGER* serial = X509_get0_serialNumber(cert.get());
    ASSERT_EQ(ASN1_STRING_length(serial), 8) << "certificate " << i;
    EXPECT_EQ(ASN1_STRING_type(serial), V_ASN1_INTEGER);  // not V_ASN1_NEG_INTEGER
  }
}

TEST_F(WinrmTlsCertificateTest, KeptWhileItHasMoreThan30DaysLeft) {
  ASSERT_TRUE(ensure());
  auto first = testing::slurp(certFile());
  ASSERT_TRUE(ensure());
  EXPECT_EQ(testing::slurp(certFile()), first);
  place("jitgated WinRM front", 31);
  auto placed = testing::slurp(certFile());
  ASSERT_TRUE(ensure());
  EXPECT_EQ(testing::slurp(certFile()), placed);
}

TEST_F(WinrmTlsCertificateTest, MadeAgainWhenFewerThan30DaysAreLeft) {
  place("jitgated WinRM front", 29);
  auto old = testing::slurp(certFile());
  ASSERT_TRUE(ensure());
  EXPECT_NE(testing::slurp(certFile()), old);
  EXPECT_EQ(lifetimeOf(certFile()).days, 397);
}

TEST_F(WinrmTlsCertificateTest, MadeAgainWhenAnOlderBuildMadeItFor825Days) {
  place("jitgated WinRM front", 825);
  auto old = testing::slurp(certFile());
  ASSERT_TRUE(ensure());
  EXPECT_NE(testing::slurp(certFile()), old);
  EXPECT_EQ(lifetimeOf(certFile()).days, 397);
}

TEST_F(WinrmTlsCertificateTest, OneAnAdminPutThereIsNeverReplaced) {
  place("winrm.example.com", 5);
  auto theirs = testing::slurp(certFile());
  ASSERT_TRUE(ensure());
  EXPECT_EQ(testing::slurp(certFile()), theirs);
  place("winrm.example.com", 900);
  theirs = testing::slurp(certFile());
  ASSERT_TRUE(ensure());
  EXPECT_EQ(testing::slurp(certFile()), theirs);
}

}  // namespace
}  // namespace jitgate
