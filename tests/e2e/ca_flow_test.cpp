// The certificate path a user really takes: jitgated's CA, jitctl cert ssh,
// a real sshd trusting `jitctl ca export --ssh` with `jitctl ca krl` as its
// RevokedKeys, and the real ssh client.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "../support/process.hpp"
#include "../support/sshd.hpp"
#include "../support/test_support.hpp"
#include "jitgate/ssh_cert.hpp"

namespace jitgate {
namespace {

using testing::Daemon;
using testing::TempDir;

class CaFlowTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = testing::sshdUnavailableReason(); !why.empty()) GTEST_SKIP() << why;
    ::chmod(dir_.path().c_str(), 0755);
    socket_ = dir_ / "c.sock";
    daemon_ = std::make_unique<Daemon>(
        JITGATED_BIN,
        std::vector<std::string>{"--state-dir", dir_ / "state", "--control-socket", socket_},
        dir_ / "daemon.log");
    ASSERT_TRUE(daemon_->waitReady()) << daemon_->log();
    user_ = std::make_unique<testing::UnixLoginUser>();
    ASSERT_EQ(
        jitctl({"target", "add", "local", "--address", "127.0.0.1", "--os", "linux"}).exitCode, 0);
    ASSERT_EQ(jitctl({"policy", "enable", "local", "--port", "22"}).exitCode, 0);
    auto keygen = testing::run(
        {testing::kSshKeygenPath, "-q", "-t", "ed25519", "-N", "", "-f", dir_ / "id"}, dir_.path());
    ASSERT_EQ(keygen.exitCode, 0);
  }

  testing::RunResult jitctl(std::vector<std::string> args) {
    args.insert(args.begin(), {JITCTL_BIN, "--socket", socket_});
    return testing::run(args, dir_.path());
  }
  std::string out(std::vector<std::string> args) {
    auto r = jitctl(std::move(args));
    EXPECT_EQ(r.exitCode, 0) << r.err;
    while (!r.out.empty() && r.out.back() == '\n') r.out.pop_back();
    return r.out;
  }
  testing::RunResult login(const testing::Sshd& sshd, const std::string& cert) {
    testing::SshLogin l;
    l.port = sshd.port();
    l.user = user_->name();
    l.identity = dir_ / "id";
    l.certificate = cert;
    l.command = "echo through-jitgate";
    return testing::sshRun(l, dir_.path());
  }

  TempDir dir_;
  std::string socket_;
  std::unique_ptr<Daemon> daemon_;
  std::unique_ptr<testing::UnixLoginUser> user_;
};

TEST_F(CaFlowTest, CertificateFromJitctlLogsInUntilTheGrantIsRevoked) {
  auto grant =
      out({"grant", user_->name(), "local", "--port", "22", "--from", "127.0.0.1", "--for", "30m"});
  ASSERT_EQ(jitctl({"cert", "ssh", grant, "--pubkey", dir_ / "id.pub", "-o", dir_ / "id-cert.pub"})
                .exitCode,
            0);
  testing::SshdOptions opts;
  opts.jitgateTarget = "local";  // the target's own principals line
  opts.trustedUserCaKeys = out({"ca", "export", "--ssh"}) + "\n";
  ASSERT_EQ(jitctl({"ca", "krl", "-o", dir_ / "krl"}).exitCode, 0);
  opts.revokedKeys = testing::slurp(dir_ / "krl");
  testing::Sshd sshd(opts);

  auto ok = login(sshd, dir_ / "id-cert.pub");
  EXPECT_EQ(ok.exitCode, 0) << ok.err << sshd.log();
  EXPECT_EQ(ok.out, "through-jitgate\n");

  ASSERT_EQ(jitctl({"revoke", grant}).exitCode, 0);
  // The daemon rewrote its KRL on revoke; the target picks up the new one.
  ASSERT_EQ(jitctl({"ca", "krl", "-o", dir_ / "krl"}).exitCode, 0);
  // (Same revocations; the version field is the time each was made.)
  EXPECT_EQ(parseKrl(testing::slurp(dir_ / "krl")).value(),
            parseKrl(testing::slurp(dir_ / "state/revoked.krl")).value());
  EXPECT_EQ(parseKrl(testing::slurp(dir_ / "krl")).value().size(), 1u);
  sshd.setRevokedKeys(testing::slurp(dir_ / "krl"));
  auto refused = login(sshd, dir_ / "id-cert.pub");
  EXPECT_EQ(refused.exitCode, 255);
  EXPECT_NE(refused.err.find("Permission denied"), std::string::npos) << refused.err;
  // And no new certificate for a revoked grant.
  auto again = jitctl({"cert", "ssh", grant, "--pubkey", dir_ / "id.pub"});
  EXPECT_EQ(again.exitCode, 1);
  EXPECT_NE(again.err.find("revoked"), std::string::npos) << again.err;
}

TEST_F(CaFlowTest, RotationKeepsOldCertificatesWorkingWithTheExport) {
  auto grant =
      out({"grant", user_->name(), "local", "--port", "22", "--from", "127.0.0.1", "--for", "30m"});
  ASSERT_EQ(jitctl({"cert", "ssh", grant, "--pubkey", dir_ / "id.pub", "-o", dir_ / "old-cert.pub"})
                .exitCode,
            0);
  ASSERT_EQ(jitctl({"ca", "rotate", "--algorithm", "ecdsa-p256"}).exitCode, 0);
  ASSERT_EQ(jitctl({"cert", "ssh", grant, "--pubkey", dir_ / "id.pub", "-o", dir_ / "new-cert.pub"})
                .exitCode,
            0);
  testing::SshdOptions opts;
  opts.jitgateTarget = "local";  // the target's own principals line
  opts.trustedUserCaKeys = out({"ca", "export", "--ssh"}) + "\n";
  testing::Sshd sshd(opts);
  EXPECT_EQ(login(sshd, dir_ / "old-cert.pub").exitCode, 0) << sshd.log();
  EXPECT_EQ(login(sshd, dir_ / "new-cert.pub").exitCode, 0) << sshd.log();
}

TEST_F(CaFlowTest, SomeoneElsesGrantGetsNoCertificate) {
  auto grant =
      out({"grant", "alice", "local", "--port", "22", "--from", "127.0.0.1", "--for", "30m"});
  // As root (admin) it works; the per-user refusal is covered in the
  // authority unit tests. Here: a grant for another port gets none.
  ASSERT_EQ(jitctl({"policy", "enable", "local", "--port", "22", "--port", "3389"}).exitCode, 0);
  auto rdp =
      out({"grant", "alice", "local", "--port", "3389", "--from", "127.0.0.1", "--for", "30m"});
  auto r = jitctl({"cert", "ssh", rdp, "--pubkey", dir_ / "id.pub"});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("not the SSH port 22"), std::string::npos) << r.err;
  (void)grant;
}

}  // namespace
}  // namespace jitgate
