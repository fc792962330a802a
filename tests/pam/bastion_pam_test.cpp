// The whole path: the real ssh client, jitgated's SSH front in terminating
// mode, and a target sshd (UsePAM yes) whose session stack holds
// pam_jitgate.so trusting jitgated's CA. The bastion's own hop certificate
// must satisfy the module, which then arms its cutoff at the grant's end.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <future>
#include <regex>
#include <thread>

#include "../support/process.hpp"
#include "../support/sshd.hpp"
#include "../support/test_support.hpp"
#include "jitgate/timefmt.hpp"
#include "pam_test_support.hpp"

namespace jitgate {
namespace {

using namespace std::chrono_literals;

class BastionPamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = testing::sshdUnavailableReason(); !why.empty()) GTEST_SKIP() << why;
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
    GTEST_SKIP() << "sanitizer build: sshd cannot load an instrumented PAM module";
#endif
#endif
    ::chmod(dir_.path().c_str(), 0755);
    socket_ = dir_ / "c.sock";
    daemon_ = std::make_unique<testing::Daemon>(
        JITGATED_BIN,
        std::vector<std::string>{"--state-dir", dir_ / "state", "--control-socket", socket_},
        dir_ / "daemon.log");
    ASSERT_TRUE(daemon_->waitReady()) << daemon_->log();
    std::smatch m;
    std::string log = daemon_->log();
    ASSERT_TRUE(std::regex_search(log, m, std::regex("ssh 127\\.0\\.0\\.1:([0-9]+)"))) << log;
    bastionPort_ = m[1];
    user_ = std::make_unique<testing::UnixLoginUser>();
    ASSERT_EQ(
        testing::run({testing::kSshKeygenPath, "-q", "-t", "ed25519", "-N", "", "-f", dir_ / "id"},
                     dir_.path())
            .exitCode,
        0);
    std::string ca = jitctl({"ca", "export", "--ssh"}).out;
    testing::writeFileWithMode(dir_ / "ca.pub", ca, 0644);
    ASSERT_EQ(jitctl({"ca", "krl", "-o", dir_ / "revoked.krl"}).exitCode, 0);
    ::chmod((dir_ / "revoked.krl").c_str(), 0644);

    testing::SshdOptions o;
    o.trustedUserCaKeys = ca;
    o.usePam = true;
    o.pamService = "sshd-jgb" + std::to_string(::getpid());
    std::string module = PAM_MODULE_PATH;
    // vm1's lines as docs/PAM.md gives them (sshd's principals line is the
    // default of SshdOptions).
    std::string common = " ca=" + (dir_ / "ca.pub") + " target=vm1";
    o.pamConfig = "auth required " + module + common + "\n" + "account required " + module +
                  common + " account=defer\n" + "session required " + module + common +
                  " krl=" + (dir_ / "revoked.krl") + " cutoff=" + CUTOFF_PATH + " grace=1\n";
    sshd_ = std::make_unique<testing::Sshd>(o);
    std::string port = std::to_string(sshd_->port());
    ASSERT_EQ(jitctl({"target", "add", "vm1", "--address", "127.0.0.1", "--os", "linux",
                      "--ssh-port", port})
                  .exitCode,
              0);
    ASSERT_EQ(jitctl({"policy", "enable", "vm1", "--port", port}).exitCode, 0);
    ASSERT_EQ(jitctl({"user", "add", user_->name(), "--key", dir_ / "id.pub"}).exitCode, 0);
    targetPort_ = port;
  }
  void TearDown() override { EXPECT_TRUE(testing::waitWatchdogsGone(std::nullopt, 5s)); }

  testing::RunResult jitctl(std::vector<std::string> args) {
    args.insert(args.begin(), {JITCTL_BIN, "--socket", socket_});
    return testing::run(args, dir_.path());
  }

  testing::TempDir dir_;
  std::string socket_, bastionPort_, targetPort_;
  std::unique_ptr<testing::Daemon> daemon_;
  std::unique_ptr<testing::UnixLoginUser> user_;
  std::unique_ptr<testing::Sshd> sshd_;
};

TEST_F(BastionPamTest, TheHopCertificatePassesTheModuleWhichArmsTheCutoffAtTheGrantsEnd) {
  auto g = jitctl({"grant", user_->name(), "vm1", "--port", targetPort_, "--from", "127.0.0.1",
                   "--for", "30m", "--json"});
  ASSERT_EQ(g.exitCode, 0) << g.err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(g.out, m, std::regex("\"endTimeUtc\": *\"([^\"]+)\""))) << g.out;
  auto end = parseTimestamp(m[1].str()).value();
  auto session = std::async(std::launch::async, [&] {
    return testing::run(
        {testing::kSshPath, "-F", "/dev/null", "-i", dir_ / "id", "-o", "IdentitiesOnly=yes", "-o",
         "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
         "-p", bastionPort_, user_->name() + "@vm1@127.0.0.1", "echo in; sleep 3; echo out"},
        dir_.path());
  });
  // While it runs: the module armed one watchdog for the grant's end.
  std::optional<testing::Watchdog> dog;
  for (int i = 0; i < 300 && !dog; ++i) {
    auto dogs = testing::cutoffWatchdogs();
    if (dogs.size() == 1 && dogs[0].settled())
      dog = dogs[0];
    else
      std::this_thread::sleep_for(10ms);
  }
  ASSERT_TRUE(dog.has_value()) << sshd_->log();
  auto until = std::to_string(
      std::chrono::duration_cast<std::chrono::seconds>(end.time_since_epoch()).count());
  EXPECT_NE(dog->cmdline.find(" --until " + until + " "), std::string::npos) << dog->cmdline;
  auto r = session.get();
  EXPECT_EQ(r.exitCode, 0) << r.err << sshd_->log();
  EXPECT_EQ(r.out, "in\nout\n");
  EXPECT_NE(sshd_->log().find("jitgate hop grant="), std::string::npos) << sshd_->log();
}

TEST_F(BastionPamTest, RevokingTheGrantPutsItsHopCertificatesInTheKrl) {
  auto id = jitctl({"grant", user_->name(), "vm1", "--port", targetPort_, "--from", "127.0.0.1",
                    "--for", "30m"});
  ASSERT_EQ(id.exitCode, 0);
  std::string grant = id.out.substr(0, id.out.find('\n'));
  auto ssh = [&] {
    return testing::run(
        {testing::kSshPath, "-F", "/dev/null", "-i", dir_ / "id", "-o", "IdentitiesOnly=yes", "-o",
         "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
         "-p", bastionPort_, user_->name() + "@vm1@127.0.0.1", "echo in"},
        dir_.path());
  };
  EXPECT_EQ(ssh().out, "in\n");
  std::smatch m;
  std::string log = sshd_->log();
  ASSERT_TRUE(std::regex_search(
      log, m, std::regex("jitgate hop grant=" + grant + " [^\"]*\" \\(serial ([0-9]+)\\)")))
      << log;
  std::string serial = m[1];
  ASSERT_EQ(jitctl({"revoke", grant}).exitCode, 0);
  // The bastion refuses at once; targets learn it from the KRL.
  auto r = ssh();
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("no active grant"), std::string::npos) << r.err;
  ASSERT_EQ(jitctl({"ca", "krl", "-o", dir_ / "revoked.krl"}).exitCode, 0);
  auto krl =
      testing::run({testing::kSshKeygenPath, "-Q", "-l", "-f", dir_ / "revoked.krl"}, dir_.path());
  EXPECT_NE(krl.out.find(serial), std::string::npos) << serial << "\n" << krl.out << krl.err;
}

}  // namespace
}  // namespace jitgate
