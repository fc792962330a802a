// pam_jitgate.so through the real libpam (pam_start_confdir with a service
// file of our own): every session refusal with its PAM code and reason,
// misconfiguration, and the account phase offline. The daemon-facing cases
// and the cutoff are in pam_online_test.cpp.
#include "pam_module_fixture.hpp"

namespace jitgate {
namespace {

using namespace pamtest;
using namespace std::chrono_literals;
using testing::PamHandle;
using testing::TempDir;

// ------------------------------------------------------------------ session

TEST_F(PamModuleTest, GoodCertificateOpensSessionAndArmsTheCutoff) {
  configure("session", sessionArgs() + " grace=7");
  auto req = request();
  // A descriptor the host holds without close-on-exec (sshd's client
  // socket, say): the root watchdog must not carry it for the session.
  int opened = ::open(caFile_.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(opened, 0);
  int inherited = ::fcntl(opened, F_DUPFD, 50);  // F_DUPFD clears close-on-exec
  ::close(opened);
  ASSERT_GE(inherited, 50);

  PamHandle pam(confdir(), kService, kUser);
  prepare(pam, with(req));
  ASSERT_EQ(pam.openSession(), PAM_SUCCESS);
  ::close(inherited);

  auto dog = testing::waitForWatchdog(::getpid(), 2s);
  ASSERT_TRUE(dog) << testing::cutoffWatchdogs(::getpid()).size() << " watchdog processes";
  auto validBefore = std::to_string(req.validBefore.time_since_epoch().count());
  EXPECT_TRUE(contains(dog->cmdline, " --until " + validBefore + " --grace 7 --fd 3 "));
  // Detached: not our child, in a session of its own, so that the host
  // never reaps it and a hangup of the host's terminal does not reach it.
  EXPECT_NE(dog->ppid, ::getpid());
  EXPECT_NE(dog->sid, ::getsid(0));
  std::vector<int> fds;
  for (const auto& [fd, target] : testing::openFds(dog->pid)) {
    fds.push_back(fd);
    EXPECT_NE(target, caFile_) << "fd " << fd;
  }
  std::sort(fds.begin(), fds.end());
  // The watchdog keeps nothing the host had open without O_CLOEXEC (it
  // closes everything but stdio and its pipe on 3).
  EXPECT_EQ(fds, (std::vector<int>{0, 1, 2, 3}));

  auto closed = std::chrono::steady_clock::now();
  EXPECT_EQ(pam.closeSession(), PAM_SUCCESS);
  pam.end();
  EXPECT_TRUE(testing::waitWatchdogsGone(::getpid(), 2s));
  EXPECT_LT(std::chrono::steady_clock::now() - closed, 2s);
}

// The session process goes into a cgroup of the login's own for the
// session, and back where it was at close; the watchdog then removes it.
TEST_F(PamModuleTest, TheSessionRunsInACgroupOfItsOwnUntilItCloses) {
  std::string mount = pam::cgroup2Mount();
  if (mount.empty()) GTEST_SKIP() << "no cgroup2 mounted here";
  std::string before = pam::cgroupDirOf(::getpid(), mount);
  ASSERT_FALSE(before.empty());
  configure("session", sessionArgs());
  PamHandle pam(confdir(), kService, kUser);
  prepare(pam, with(request()));
  ASSERT_EQ(pam.openSession(), PAM_SUCCESS);
  std::string during = pam::cgroupDirOf(::getpid(), mount);
  EXPECT_EQ(during.rfind(before + "/jitgate/session-" + std::to_string(::getpid()) + "-", 0), 0u)
      << during;
  auto dog = testing::waitForWatchdog(::getpid(), 2s);
  ASSERT_TRUE(dog);
  EXPECT_TRUE(contains(dog->cmdline, " --cgroup " + during + " --owned 1 ")) << dog->cmdline;
  // The watchdog itself stays outside the cgroup it will empty.
  EXPECT_EQ(pam::cgroupDirOf(dog->pid, mount), before);
  EXPECT_EQ(pam.closeSession(), PAM_SUCCESS);
  pam.end();
  EXPECT_EQ(pam::cgroupDirOf(::getpid(), mount), before);
  EXPECT_TRUE(testing::waitWatchdogsGone(::getpid(), 2s));
  EXPECT_FALSE(std::filesystem::exists(during)) << during;
}

TEST(SessionCgroup, LogindScopesAreTheLoginsCgroup) {
  EXPECT_TRUE(pam::isLogindScope("/sys/fs/cgroup/user.slice/user-1000.slice/session-4.scope"));
  EXPECT_TRUE(pam::isLogindScope("/sys/fs/cgroup/user.slice/user-0.slice/session-c12.scope"));
  EXPECT_FALSE(pam::isLogindScope("/sys/fs/cgroup/system.slice/ssh.service"));
  EXPECT_FALSE(pam::isLogindScope("/sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service"));
  EXPECT_FALSE(pam::isLogindScope("/sys/fs/cgroup/session-.scope"));
  EXPECT_FALSE(pam::isLogindScope("/sys/fs/cgroup/session-4.scope/sub"));
}

TEST_F(PamModuleTest, PamEndWithoutCloseSessionStopsTheWatchdog) {
  configure("session", sessionArgs());
  {
    PamHandle pam(confdir(), kService, kUser);
    prepare(pam, with(request()));
    ASSERT_EQ(pam.openSession(), PAM_SUCCESS);
    ASSERT_TRUE(testing::waitForWatchdog(::getpid(), 2s));
  }  // pam_end only
  EXPECT_TRUE(testing::waitWatchdogsGone(::getpid(), 2s));
}

TEST_F(PamModuleTest, ExpiredIsDenied) {
  auto req = request();
  req.validAfter = now_ - 2h;
  req.validBefore = now_ - 1h;
  expectSessionDenied(with(req), "expired");
}

TEST_F(PamModuleTest, ValidBeforeIsExclusive) {
  // At the boundary itself, through the logic with its clock injected:
  // through libpam the module reads time(), whose coarse clock may lag the
  // test's by a few milliseconds.
  auto args = pam::parseArgs(splitArgs(sessionArgs())).value();
  auto req = request();
  auto a = with(req);
  auto end = static_cast<int64_t>(req.validBefore.time_since_epoch().count());
  auto last = pam::checkCertificate(args, kUser, "127.0.0.1", *a.authInfo, end - 1);
  EXPECT_TRUE(last.allowed) << last.reason;
  EXPECT_EQ(last.validBefore, static_cast<uint64_t>(end));
  auto after = pam::checkCertificate(args, kUser, "127.0.0.1", *a.authInfo, end);
  EXPECT_FALSE(after.allowed);
  EXPECT_TRUE(contains(after.reason, "expired"));
  auto start = static_cast<int64_t>(req.validAfter.time_since_epoch().count());
  EXPECT_TRUE(pam::checkCertificate(args, kUser, "127.0.0.1", *a.authInfo, start).allowed);
  EXPECT_FALSE(pam::checkCertificate(args, kUser, "127.0.0.1", *a.authInfo, start - 1).allowed);
}

TEST_F(PamModuleTest, NotYetValidIsDenied) {
  auto req = request();
  req.validAfter = now_ + 1h;
  req.validBefore = now_ + 2h;
  expectSessionDenied(with(req), "not_yet_valid");
}

TEST_F(PamModuleTest, OtherCaIsDenied) {
  auto other = SigningKey::generate(KeyAlgorithm::Ed25519).value();
  expectSessionDenied(Attempt{kUser, "127.0.0.1", authInfo(request(), other)}, "untrusted_ca");
}

TEST_F(PamModuleTest, OtherUserIsDenied) {
  auto a = with(request());
  a.user = "mallory";  // the PAM user is not the certificate's principal
  expectSessionDenied(a, "wrong_principal");
}

// A certificate opens only its grant's target: one for web2 on web1.
TEST_F(PamModuleTest, CertificateForAnotherTargetIsDenied) {
  auto req = request();
  req.principals = {std::string(kUser) + "@web2"};
  expectSessionDenied(with(req), "wrong_target: valid for target 'web2', not 'web1'");
}

// The bare login (what jitgate issued before certificates named targets)
// binds a certificate to no target: refused.
TEST_F(PamModuleTest, BareLoginCertificateIsDenied) {
  auto req = request();
  req.principals = {kUser};
  expectSessionDenied(with(req), "wrong_principal: not valid for 'alice' on 'web1'");
}

TEST_F(PamModuleTest, RhostOutsideSourceAddressIsDenied) {
  auto a = with(request());
  a.rhost = "10.9.9.9";
  expectSessionDenied(a, "source_not_allowed");
}

TEST_F(PamModuleTest, RevokedSerialIsDenied) {
  auto krlFile = dir_ / "revoked.krl";
  auto args = sessionArgs() + " krl=" + krlFile;
  auto a = with(request());
  // A KRL naming another serial lets in; one naming ours does not.
  testing::writeFileWithMode(
      krlFile, buildKrl({KrlEntry{ca_.publicBlob(), {kSerial + 1}}}, 1, now_, "test"), 0644);
  configure("session", args);
  EXPECT_EQ(openSession(a), PAM_SUCCESS);
  EXPECT_TRUE(testing::waitWatchdogsGone(::getpid(), 2s));

  testing::writeFileWithMode(
      krlFile, buildKrl({KrlEntry{ca_.publicBlob(), {kSerial + 1, kSerial}}}, 2, now_, "test"),
      0644);
  EXPECT_EQ(openSession(a), PAM_PERM_DENIED);
  EXPECT_TRUE(testing::cutoffWatchdogs(::getpid()).empty());
  EXPECT_TRUE(contains(reason(a, args), "revoked: serial 4242 is revoked"));
}

TEST_F(PamModuleTest, GarbageKrlFailsClosed) {
  auto krlFile = dir_ / "revoked.krl";
  testing::writeFileWithMode(krlFile, "this is not a KRL\n", 0644);
  auto args = sessionArgs() + " krl=" + krlFile;
  configure("session", args);
  auto a = with(request());
  EXPECT_EQ(openSession(a), PAM_PERM_DENIED);
  EXPECT_TRUE(contains(reason(a, args), "unreadable KRL"));
}

TEST_F(PamModuleTest, MissingKrlFailsClosed) {
  auto args = sessionArgs() + " krl=" + dir_ / "absent.krl";
  configure("session", args);
  auto a = with(request());
  EXPECT_EQ(openSession(a), PAM_PERM_DENIED);
  EXPECT_TRUE(contains(reason(a, args), "No such file"));
}

TEST_F(PamModuleTest, NoAuthInfoIsDenied) {
  expectSessionDenied(Attempt{kUser, "127.0.0.1", std::nullopt}, "no SSH_AUTH_INFO_0");
}

TEST_F(PamModuleTest, GarbageAuthInfoIsDenied) {
  expectSessionDenied(Attempt{kUser, "127.0.0.1", "hello world"},
                      "the login did not use a certificate");
  expectSessionDenied(
      Attempt{kUser, "127.0.0.1", "publickey ssh-ed25519-cert-v01@openssh.com AAAAnotacert"},
      "malformed certificate");
}

TEST_F(PamModuleTest, PlainKeyIsDenied) {
  // What sshd reports for an authorized_keys login: a key, no certificate.
  auto line = userKey_.publicLine("");
  while (!line.empty() && line.back() == ' ') line.pop_back();
  expectSessionDenied(Attempt{kUser, "127.0.0.1", "publickey " + line},
                      "the login did not use a certificate");
}

TEST_F(PamModuleTest, CertificateAfterAnotherMethodIsFound) {
  // AuthenticationMethods publickey,keyboard-interactive: one line each.
  configure("session", sessionArgs());
  auto a = with(request());
  a.authInfo = "keyboard-interactive\n" + *a.authInfo;
  EXPECT_EQ(openSession(a), PAM_SUCCESS);
}

TEST_F(PamModuleTest, NoRhostIsDenied) {
  expectSessionDenied(Attempt{kUser, std::nullopt, authInfo(request())}, "no remote host");
}

TEST_F(PamModuleTest, HostnameRhostIsDenied) {
  // UseDNS yes puts a name in PAM_RHOST: the source-address check needs
  // the address.
  expectSessionDenied(Attempt{kUser, "localhost", authInfo(request())}, "is not an IP address");
}

TEST_F(PamModuleTest, CaFileWritableByOthersIsDenied) {
  ASSERT_EQ(::chmod(caFile_.c_str(), 0666), 0);
  expectSessionDenied(with(request()), "must be owned by root and not writable by others");
}

TEST_F(PamModuleTest, CaFileWritableByGroupIsDenied) {
  ASSERT_EQ(::chmod(caFile_.c_str(), 0664), 0);
  expectSessionDenied(with(request()), "must be owned by root and not writable by others");
}

TEST_F(PamModuleTest, CaFileNotOwnedByRootIsDenied) {
  ASSERT_EQ(::chown(caFile_.c_str(), 65534, 65534), 0);
  expectSessionDenied(with(request()), "must be owned by root and not writable by others");
}

TEST_F(PamModuleTest, CaFileSymlinkIsDenied) {
  auto link = dir_ / "ca-link.pub";
  std::filesystem::create_symlink(caFile_, link);
  configure("session", "ca=" + link + " target=web1 cutoff=" + CUTOFF_PATH);
  EXPECT_EQ(openSession(with(request())), PAM_PERM_DENIED);
}

TEST_F(PamModuleTest, CutoffHelperMissingRefusesTheSession) {
  // A session that could not be ended on time is not opened.
  configure("session", "ca=" + caFile_ + " target=web1 cutoff=" + dir_ / "no-such-helper");
  EXPECT_EQ(openSession(with(request())), PAM_SESSION_ERR);
}

// ---------------------------------------------------------- misconfiguration

TEST_F(PamModuleTest, MisconfigurationIsServiceError) {
  struct Case {
    const char* name;
    std::string args;
  } cases[] = {
      {"unknown argument", sessionArgs() + " bogus=1"},
      {"unknown flag", sessionArgs() + " nodebug"},
      {"missing ca=", std::string("cutoff=") + CUTOFF_PATH},
      {"empty ca=", std::string("ca= target=web1 cutoff=") + CUTOFF_PATH},
      {"relative ca path", std::string("ca=ca.pub target=web1 cutoff=") + CUTOFF_PATH},
      {"relative krl path", sessionArgs() + " krl=revoked.krl"},
      {"relative cutoff path", "ca=" + caFile_ + " target=web1 cutoff=bin/jitgate-cutoff"},
      {"missing target=", "ca=" + caFile_ + " cutoff=" + CUTOFF_PATH},
      {"missing target= with online=",
       "ca=" + caFile_ + " cutoff=" + CUTOFF_PATH + " online=/run/jitgate/control.sock"},
      {"empty target=", "ca=" + caFile_ + " target= cutoff=" + CUTOFF_PATH},
      {"target= not a name", "ca=" + caFile_ + " target=web1@x cutoff=" + CUTOFF_PATH},
      {"port out of range", sessionArgs() + " online=/x.sock target=web1 port=70000"},
      {"timeout not a number", sessionArgs() + " online=/x.sock target=web1 timeout=fast"},
      {"unreachable=maybe", sessionArgs() + " online=/x.sock target=web1 unreachable=maybe"},
      {"account=now", sessionArgs() + " account=now"},
      {"cgroup=maybe", sessionArgs() + " cgroup=maybe"},
      {"cgroup without a value", sessionArgs() + " cgroup"},
      {"grace negative", sessionArgs() + " grace=-1"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_FALSE(pam::parseArgs(splitArgs(c.args)).ok());
    configure({{"session", c.args}, {"account", c.args}});
    auto a = with(request());
    EXPECT_EQ(openSession(a), PAM_SERVICE_ERR);
    EXPECT_EQ(account(a), PAM_SERVICE_ERR);
  }
  EXPECT_TRUE(testing::cutoffWatchdogs(::getpid()).empty());
}

// ---------------------------------------------------------------- auth

TEST_F(PamModuleTest, AuthStackRefuses) {
  // Not an authentication module: a stack that calls it must not pass
  // because of it, certificate or not.
  configure("auth", sessionArgs());
  PamHandle pam(confdir(), kService, kUser);
  prepare(pam, with(request()));
  EXPECT_EQ(pam.authenticate(), PAM_AUTH_ERR);
}

// ---------------------------------------------------------------- account

TEST_F(PamModuleTest, AccountDeferredWithoutAuthInfoSucceeds) {
  // sshd's publickey logins reach the account phase with SSH_AUTH_INFO_0
  // empty: the session line decides.
  configure("account", "ca=" + caFile_ + " target=web1 account=defer");
  EXPECT_EQ(account(Attempt{kUser, "127.0.0.1", std::nullopt}), PAM_SUCCESS);
  EXPECT_EQ(account(Attempt{kUser, "127.0.0.1", ""}), PAM_SUCCESS);
}

TEST_F(PamModuleTest, AccountWithNothingToCheckIsDenied) {
  configure("account", "ca=" + caFile_ + " target=web1");
  EXPECT_EQ(account(Attempt{kUser, "127.0.0.1", std::nullopt}), PAM_PERM_DENIED);
}

TEST_F(PamModuleTest, AccountChecksTheCertificateWhenPresent) {
  configure("account", "ca=" + caFile_ + " target=web1 account=defer");
  EXPECT_EQ(account(with(request())), PAM_SUCCESS);
  auto expired = request();
  expired.validAfter = now_ - 2h;
  expired.validBefore = now_ - 1h;
  EXPECT_EQ(account(with(expired)), PAM_PERM_DENIED);
  auto elsewhere = with(request());
  elsewhere.rhost = "10.9.9.9";
  EXPECT_EQ(account(elsewhere), PAM_PERM_DENIED);
  // The account phase never arms a cutoff.
  EXPECT_TRUE(testing::cutoffWatchdogs(::getpid()).empty());
}

}  // namespace
}  // namespace jitgate
