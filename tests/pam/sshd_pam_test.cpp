// End to end with a real OpenSSH sshd (UsePAM yes) whose account and
// session stacks hold pam_jitgate.so, and the real ssh client logging in
// with certificates from our CA: a login that passes, a session cut at its
// certificate's valid_before, and a revocation only the module knows of.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "../support/process.hpp"
#include "../support/sshd.hpp"
#include "../support/test_support.hpp"
#include "jitgate/pam/session_cgroup.hpp"
#include "jitgate/ssh_cert.hpp"
#include "jitgate/ssh_key.hpp"
#include "jitgate/ssh_wire.hpp"
#include "pam_test_support.hpp"

namespace jitgate {
namespace {

using namespace std::chrono_literals;
using testing::RunResult;
using testing::Sshd;
using testing::SshdOptions;
using testing::SshLogin;
using testing::TempDir;
using testing::UnixLoginUser;

constexpr uint64_t kSerial = 9100;

double wallSeconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string describe(const RunResult& r) {
  return "exit " + std::to_string(r.exitCode) + "\nstdout: " + r.out + "\nstderr: " + r.err;
}

class SshdPamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = testing::sshdUnavailableReason(); !why.empty()) GTEST_SKIP() << why;
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
    // An instrumented module needs the sanitizer runtime of its host, and
    // sshd has none: this path runs in the normal build (scripts/test.sh).
    GTEST_SKIP() << "sanitizer build: sshd cannot load an instrumented PAM module";
#endif
#endif
    user_ = std::make_unique<UnixLoginUser>();
    auto keygen = testing::run({testing::kSshKeygenPath, "-q", "-t", "ed25519", "-N", "", "-C",
                                "user@jitgate-pam-test", "-f", work_ / "id_ed25519"},
                               work_.path());
    ASSERT_EQ(keygen.exitCode, 0) << keygen.err;
    std::string pub = testing::slurp(work_ / "id_ed25519.pub");
    auto sp = pub.find(' ');
    ASSERT_TRUE(base64Decode(pub.substr(sp + 1, pub.find(' ', sp + 1) - sp - 1), userKey_)) << pub;
    caFile_ = work_ / "ca.pub";
    krlFile_ = work_ / "revoked.krl";
    testing::writeFileWithMode(caFile_, ca_.publicLine("jitgate-pam-ca") + "\n", 0644);
    now_ = std::chrono::floor<Seconds>(std::chrono::system_clock::now());
    revoke({});
  }

  void TearDown() override {
    // Every session's watchdog went with its session.
    EXPECT_TRUE(testing::waitWatchdogsGone(std::nullopt, 5s));
  }

  // The module's KRL (sshd itself has no RevokedKeys).
  void revoke(std::vector<uint64_t> serials) {
    serials.push_back(1);  // never issued: the KRL is never empty
    testing::writeFileWithMode(
        krlFile_, buildKrl({KrlEntry{ca_.publicBlob(), serials}}, 1, now_, "pam e2e"), 0644);
  }

  // sshd trusts our CA and runs its own PAM service: account deferred to
  // the session, the session checked and armed with the cutoff. The module
  // in the auth stack answers pam_setcred (success) and would refuse
  // pam_authenticate, which a publickey login never calls.
  // `sshdTarget` goes into sshd's AuthorizedPrincipalsCommand line,
  // `pamTarget` into the module's target= (both "vm1" on a well set-up vm1).
  SshdOptions options(const std::string& sshdTarget = "vm1",
                      const std::string& pamTarget = "vm1") const {
    static std::atomic<int> counter{0};
    SshdOptions o;
    o.jitgateTarget = sshdTarget;
    o.trustedUserCaKeys = ca_.publicLine("jitgate-pam-ca") + "\n";
    o.usePam = true;
    o.pamService = "sshd-jgt" + std::to_string(::getpid()) + "x" + std::to_string(++counter);
    std::string module = PAM_MODULE_PATH;
    std::string common = " ca=" + caFile_ + " target=" + pamTarget;
    o.pamConfig = "auth required " + module + common + "\n" + "account required " + module +
                  common + " account=defer\n" + "session required " + module + common +
                  " krl=" + krlFile_ + " cutoff=" + CUTOFF_PATH + " grace=1\n";
    return o;
  }

  SshCertRequest request() const {
    SshCertRequest r;
    r.subjectKey = userKey_;
    r.serial = kSerial;
    r.keyId = "jitgate pam e2e for " + user_->name();
    r.principals = {user_->name() + "@vm1"};  // what jitgate issues for a grant on vm1
    r.validAfter = now_ - 60s;
    r.validBefore = now_ + 1h;
    r.sourceAddresses = {Cidr::parse("127.0.0.1/32").value()};
    r.extensions = {"permit-pty"};
    return r;
  }

  std::string issue(const SshCertRequest& req) {
    auto blob = issueSshCertificate(ca_, req);
    EXPECT_TRUE(blob.ok()) << blob.refusal().describe();
    if (!blob.ok()) return "";
    std::ofstream(work_ / "id_ed25519-cert.pub") << sshCertificateLine(*blob, "pam-e2e") << "\n";
    return work_ / "id_ed25519-cert.pub";
  }

  RunResult login(const Sshd& sshd, const std::string& cert, const std::string& command) {
    SshLogin l;
    l.port = sshd.port();
    l.user = user_->name();
    l.identity = work_ / "id_ed25519";
    l.certificate = cert;
    l.command = command;
    return testing::sshRun(l, work_.path());
  }

  TempDir work_;
  std::unique_ptr<UnixLoginUser> user_;
  SigningKey ca_ = SigningKey::generate(KeyAlgorithm::Ed25519).value();
  std::string userKey_;
  std::string caFile_;
  std::string krlFile_;
  SysTime now_;
};

TEST_F(SshdPamTest, GoodCertificateLogsIn) {
  auto cert = issue(request());
  Sshd sshd(options());
  auto r = login(sshd, cert, "echo jitgate-ok");
  EXPECT_EQ(r.exitCode, 0) << describe(r) << "\nsshd log:\n" << sshd.log();
  EXPECT_EQ(r.out, "jitgate-ok\n") << describe(r);
  EXPECT_TRUE(sshd.waitForLog("Accepted publickey for " + user_->name() + " from 127.0.0.1"))
      << sshd.log();
  EXPECT_EQ(sshd.log().find("pam_open_session"), std::string::npos) << sshd.log();
}

// Two real targets, vm1 and vm2, each set up as docs/PAM.md says: the
// certificate of a grant on vm1 logs in on vm1 only. vm2's sshd refuses it
// (its AuthorizedPrincipalsCommand names vm2), and so does vm2's
// pam_jitgate (target=vm2) where sshd was set up with vm1's line by mistake.
TEST_F(SshdPamTest, ACertificateForVm1OpensVm1AndNotVm2) {
  auto cert = issue(request());
  Sshd vm1(options("vm1", "vm1"));
  Sshd vm2(options("vm2", "vm2"));
  Sshd vm2Misconfigured(options("vm1", "vm2"));

  auto r = login(vm1, cert, "echo jitgate-ok");
  EXPECT_EQ(r.exitCode, 0) << describe(r) << "\nsshd log:\n" << vm1.log();
  EXPECT_EQ(r.out, "jitgate-ok\n") << describe(r);
  EXPECT_TRUE(vm1.waitForLog("Accepted publickey for " + user_->name() + " from 127.0.0.1"))
      << vm1.log();

  // sshd on vm2: no listed principal, the login fails before any session.
  r = login(vm2, cert, "echo jitgate-ok");
  EXPECT_EQ(r.exitCode, 255) << describe(r);
  EXPECT_NE(r.err.find("Permission denied (publickey)"), std::string::npos) << describe(r);
  EXPECT_EQ(r.out.find("jitgate-ok"), std::string::npos) << describe(r);
  EXPECT_FALSE(vm2.waitForLog("Accepted publickey", 0, 500ms)) << vm2.log();

  // pam_jitgate on vm2: sshd let the certificate through, the session
  // stack refuses it (wrong_target), and the command never runs.
  r = login(vm2Misconfigured, cert, "echo jitgate-ok");
  EXPECT_TRUE(vm2Misconfigured.waitForLog("Accepted publickey for " + user_->name()))
      << vm2Misconfigured.log();
  EXPECT_TRUE(vm2Misconfigured.waitForLog("PAM: pam_open_session(): Permission denied"))
      << vm2Misconfigured.log();
  EXPECT_EQ(r.exitCode, 254) << describe(r);
  EXPECT_EQ(r.out.find("jitgate-ok"), std::string::npos) << describe(r);
}

TEST_F(SshdPamTest, SessionIsCutAtValidBefore) {
  auto req = request();
  req.validBefore = now_ + 5s;  // 4 to 5 seconds from now
  double validBefore = static_cast<double>(req.validBefore.time_since_epoch().count());
  auto cert = issue(req);
  Sshd sshd(options());
  auto running = std::async(std::launch::async, [&] {
    auto r = login(sshd, cert, "echo started; sleep 30; echo not-cut");
    return std::make_pair(r, wallSeconds());
  });
  // While the session runs: one watchdog, for sshd's privileged session
  // process, holding nothing of that process but its pipe.
  std::optional<testing::Watchdog> dog;
  for (int i = 0; i < 300 && !dog; ++i) {
    auto dogs = testing::cutoffWatchdogs();
    if (dogs.size() == 1 && dogs[0].settled())
      dog = dogs[0];
    else
      std::this_thread::sleep_for(10ms);
  }
  if (dog) {
    EXPECT_TRUE(dog->cmdline.find(" --until " +
                                  std::to_string(static_cast<long long>(validBefore)) +
                                  " --grace 1 ") != std::string::npos)
        << dog->cmdline;
    std::string held;
    for (const auto& [fd, target] : testing::openFds(dog->pid))
      if (fd > 3) held += " " + std::to_string(fd) + "->" + target;
    // A root process that lives as long as the session must not keep
    // sshd's descriptors (its connection socket) open.
    EXPECT_EQ(held, "") << "the watchdog holds fds of sshd's session process";
  } else {
    ADD_FAILURE() << "no watchdog while the session ran";
  }
  auto [r, ended] = running.get();
  // sshd's session process is gone: the client sees the connection drop.
  EXPECT_EQ(r.exitCode, 255) << describe(r);
  EXPECT_NE(r.err.find("closed by remote host"), std::string::npos) << describe(r);
  EXPECT_EQ(r.out, "started\n") << describe(r);
  EXPECT_GE(ended, validBefore - 1) << describe(r);
  EXPECT_LE(ended, validBefore + 3) << describe(r) << "\nsshd log:\n" << sshd.log();
  EXPECT_TRUE(sshd.waitForLog("Accepted publickey for " + user_->name())) << sshd.log();
  EXPECT_EQ(sshd.log().find("pam_open_session"), std::string::npos) << sshd.log();
}

// A live process that is not a zombie.
bool alive(pid_t pid) {
  std::string stat = testing::slurp("/proc/" + std::to_string(pid) + "/stat");
  auto close = stat.rfind(')');
  return close != std::string::npos && close + 2 < stat.size() && stat[close + 2] != 'Z';
}

// Starts a process that leaves the session's process tree the way a user
// would to outlive it (a double fork and setsid), prints its pid and runs
// `rest`: the cut must still reach it (the login's cgroup).
const std::string kDetach =
    "( setsid sh -c 'echo detached $$ >&3; exec sleep 60 3>&-' 3>&1 </dev/null >/dev/null 2>&1 & "
    "); ";

pid_t detachedPid(const std::string& out) {
  auto at = out.find("detached ");
  if (at == std::string::npos) return 0;
  return static_cast<pid_t>(std::atol(out.c_str() + at + 9));
}

TEST_F(SshdPamTest, ADetachedProcessIsGoneAtTheWindowsEnd) {
  auto req = request();
  req.validBefore = now_ + 5s;
  double validBefore = static_cast<double>(req.validBefore.time_since_epoch().count());
  auto cert = issue(req);
  Sshd sshd(options());
  auto r = login(sshd, cert, kDetach + "sleep 1; echo started; sleep 30; echo not-cut");
  double ended = wallSeconds();
  EXPECT_EQ(r.exitCode, 255) << describe(r) << "\nsshd log:\n" << sshd.log();
  EXPECT_NE(r.out.find("started\n"), std::string::npos) << describe(r);
  EXPECT_EQ(r.out.find("not-cut"), std::string::npos) << describe(r);
  EXPECT_LE(ended, validBefore + 3) << describe(r);
  pid_t detached = detachedPid(r.out);
  ASSERT_GT(detached, 1) << describe(r);
  // In its own session, outside sshd's tree: only the cgroup still holds it.
  for (int i = 0; i < 100 && alive(detached); ++i) std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(alive(detached)) << "pid " << detached << " outlived the window";
}

// A login that ends early leaves its detached process running, but only
// until the window's end; then the watchdog empties and removes the cgroup.
TEST_F(SshdPamTest, ADetachedProcessLeftBehindEndsWithTheWindowToo) {
  auto req = request();
  req.validBefore = now_ + 5s;
  double validBefore = static_cast<double>(req.validBefore.time_since_epoch().count());
  auto cert = issue(req);
  Sshd sshd(options());
  auto r = login(sshd, cert, kDetach + "sleep 1; echo bye");
  EXPECT_EQ(r.exitCode, 0) << describe(r) << "\nsshd log:\n" << sshd.log();
  pid_t detached = detachedPid(r.out);
  ASSERT_GT(detached, 1) << describe(r);
  EXPECT_TRUE(alive(detached));  // the session is over, the window is not
  std::string cgroup = testing::slurp("/proc/" + std::to_string(detached) + "/cgroup");
  EXPECT_NE(cgroup.find("/jitgate/session-"), std::string::npos) << cgroup;
  while (wallSeconds() < validBefore - 1 && alive(detached)) std::this_thread::sleep_for(100ms);
  EXPECT_TRUE(alive(detached)) << "ended before the window did";
  for (int i = 0; i < 100 && alive(detached); ++i) std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(alive(detached)) << "pid " << detached << " outlived the window";
  EXPECT_LE(wallSeconds(), validBefore + 3);
  // The watchdog went, and took the empty cgroup with it.
  EXPECT_TRUE(testing::waitWatchdogsGone(std::nullopt, 5s));
  auto nl = cgroup.find('\n', cgroup.find("0::"));
  std::string path = cgroup.substr(cgroup.find("0::") + 3, nl - cgroup.find("0::") - 3);
  std::string mount = pam::cgroup2Mount();
  ASSERT_FALSE(mount.empty());
  EXPECT_FALSE(std::filesystem::exists(mount + path)) << mount + path;
}

TEST_F(SshdPamTest, RevokedOnlyInTheModulesKrlIsRefusedAtSessionOpen) {
  auto cert = issue(request());
  revoke({kSerial});
  Sshd sshd(options());
  auto r = login(sshd, cert, "echo jitgate-ok");
  // sshd itself accepts the certificate (it has no RevokedKeys); the
  // session stack refuses it, and the command never runs.
  EXPECT_TRUE(sshd.waitForLog("Accepted publickey for " + user_->name())) << sshd.log();
  EXPECT_TRUE(sshd.waitForLog("PAM: pam_open_session(): Permission denied")) << sshd.log();
  // sshd 9.2 does not drop the connection when pam_open_session fails: it
  // restricts the session (no forwarding, pty, agent, X11) and its session
  // child exits 254 before running the command.
  EXPECT_TRUE(sshd.waitForLog("Starting session: command for " + user_->name())) << sshd.log();
  EXPECT_EQ(r.exitCode, 254) << describe(r) << "\nsshd log:\n" << sshd.log();
  EXPECT_EQ(r.out.find("jitgate-ok"), std::string::npos) << describe(r);
}

// What a jitgate grant is for is reaching a port: with the session refused,
// sshd must not forward either (ssh -W, a direct-tcpip channel).
TEST_F(SshdPamTest, RevokedOnlyInTheModulesKrlGetsNoForwarding) {
  auto req = request();
  req.extensions = {"permit-port-forwarding", "permit-pty"};
  auto cert = issue(req);
  Sshd sshd(options());
  auto forward = [&] {
    std::vector<std::string> argv{
        testing::kSshPath,        "-F", "/dev/null", "-i", work_ / "id_ed25519", "-o",
        "CertificateFile=" + cert};
    for (const char* opt : {"IdentitiesOnly=yes", "StrictHostKeyChecking=no",
                            "UserKnownHostsFile=/dev/null", "BatchMode=yes", "ConnectTimeout=5"}) {
      argv.push_back("-o");
      argv.push_back(opt);
    }
    // The forward reaches sshd's own port, which greets with its banner.
    argv.insert(argv.end(),
                {"-p", std::to_string(sshd.port()), "-W",
                 "127.0.0.1:" + std::to_string(sshd.port()), user_->name() + "@127.0.0.1"});
    return testing::run(argv, work_.path());
  };
  auto open = forward();
  EXPECT_EQ(open.out.rfind("SSH-2.0-", 0), 0u) << describe(open) << "\nsshd log:\n" << sshd.log();

  size_t mark = sshd.logMark();
  revoke({kSerial});
  auto refused = forward();
  EXPECT_TRUE(sshd.waitForLog("PAM: pam_open_session(): Permission denied", mark)) << sshd.log();
  EXPECT_EQ(refused.out.find("SSH-2.0-"), std::string::npos) << describe(refused);
  EXPECT_NE(refused.exitCode, 0) << describe(refused);
  EXPECT_NE(refused.err.find("administratively prohibited"), std::string::npos)
      << describe(refused) << "\nsshd log:\n"
      << sshd.log();
}

}  // namespace
}  // namespace jitgate
