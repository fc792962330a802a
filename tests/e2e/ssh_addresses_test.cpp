// Targets named by address through the bastion: three targets enrolled at
// one address (the real sshd's 127.0.0.1); ssh -J, -W and -L naming the
// address reach the target whose grant covers the user, port and source,
// and are refused with every candidate named when that is not exactly one.
#include "ssh_bastion_fixture.hpp"

namespace jitgate {
namespace {

using testing::RunResult;

class SshAddressTest : public SshBastionTest {
 protected:
  void SetUp() override {
    SshBastionTest::SetUp();
    if (HasFatalFailure() || IsSkipped()) return;
    for (const char* name : {"win2", "win3"}) {
      auto r = jitctl({"target", "add", name, "--address", "127.0.0.1", "--os", "linux",
                       "--ssh-port", targetPort_});
      ASSERT_EQ(r.exitCode, 0) << r.err;
      addWarnings_ += r.err;
      ASSERT_EQ(
          jitctl({"policy", "enable", name, "--port", targetPort_, "--port", "3389"}).exitCode, 0);
    }
  }
  RunResult jumpByAddress() {
    return testing::run({testing::kSshPath, "-F", dir_ / "ssh_config", "-o",
                         "CertificateFile=" + (dir_ / "id-cert.pub"), "-J",
                         user_->name() + "@127.0.0.1:" + std::to_string(bastionPort_), "-p",
                         targetPort_, user_->name() + "@127.0.0.1", "echo jumped"},
                        dir_.path());
  }
  std::string addWarnings_;
};

TEST_F(SshAddressTest, EnrolmentWarnsWhenAnAddressIsShared) {
  EXPECT_NE(addWarnings_.find("warning: address 127.0.0.1 is also vm1's"), std::string::npos)
      << addWarnings_;
  EXPECT_NE(addWarnings_.find("warning: address 127.0.0.1 is also vm1, win2's"), std::string::npos)
      << addWarnings_;
  auto view = out({"target", "show", "win3", "--json"});
  EXPECT_NE(view.find("\"sharesAddressWith\":[\"vm1\",\"win2\"]"), std::string::npos) << view;
}

TEST_F(SshAddressTest, TheAddressReachesTheTargetWhoseGrantCoversIt) {
  // win3's grant is for another port: only vm1's covers the sshd's.
  out({"grant", user_->name(), "win3", "--port", "3389", "--from", "127.0.0.1", "--for", "30m"});
  auto id = grant(targetPort_);
  ASSERT_EQ(
      jitctl({"cert", "ssh", id, "--pubkey", dir_ / "id.pub", "-o", dir_ / "id-cert.pub"}).exitCode,
      0);
  auto r = jumpByAddress();
  EXPECT_EQ(r.exitCode, 0) << r.err << daemon_->log();
  EXPECT_EQ(r.out, "jumped\n");
  auto a = audit();
  EXPECT_NE(a.find("session.connect,ok,vm1," + targetPort_), std::string::npos) << a;
}

TEST_F(SshAddressTest, AnAddressThatStaysAmbiguousIsRefusedNamingEveryCandidate) {
  auto id = grant(targetPort_);
  out({"grant", user_->name(), "win2", "--port", targetPort_, "--from", "127.0.0.1", "--for",
       "30m"});
  ASSERT_EQ(
      jitctl({"cert", "ssh", id, "--pubkey", dir_ / "id.pub", "-o", dir_ / "id-cert.pub"}).exitCode,
      0);
  auto r = jumpByAddress();
  EXPECT_NE(r.exitCode, 0);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("127.0.0.1 is the address of vm1, win2, win3, and grants on vm1, win2"),
            std::string::npos)
      << r.err;
  EXPECT_TRUE(waitAudit("reason=ambiguous_target")) << audit();
  // Named, it passes.
  r = testing::run({testing::kSshPath, "-F", dir_ / "ssh_config", "-o",
                    "CertificateFile=" + (dir_ / "id-cert.pub"), "-J",
                    user_->name() + "@127.0.0.1:" + std::to_string(bastionPort_), "-p", targetPort_,
                    user_->name() + "@vm1", "echo jumped"},
                   dir_.path());
  EXPECT_EQ(r.out, "jumped\n") << r.err;
}

TEST_F(SshAddressTest, NoGrantOnAnyTargetAtTheAddressNamesThemAll) {
  grant(targetPort_);
  // -W to a port no grant covers, by address.
  auto r = testing::run(
      {testing::kSshPath, "-F", dir_ / "ssh_config", "-p", std::to_string(bastionPort_), "-W",
       "127.0.0.1:3389", user_->name() + "@127.0.0.1"},
      dir_.path());
  EXPECT_NE(r.exitCode, 0);
  EXPECT_NE(r.err.find("on any target at 127.0.0.1 (127.0.0.1 is the address of vm1, win2, win3)"),
            std::string::npos)
      << r.err;
}

}  // namespace
}  // namespace jitgate
