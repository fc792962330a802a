// pam_jitgate.so through the real libpam (pam_start_confdir with a service
// file of our own): every session refusal with its PAM code and reason,
// misconfiguration, the account phase offline and against the real
// jitgated, and the cutoff watchdog ending a session at valid_before.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "../support/process.hpp"
#include "../support/test_support.hpp"
#include "jitgate/pam/module.hpp"
#include "jitgate/pam/session_cgroup.hpp"
#include "jitgate/ssh_cert.hpp"
#include "jitgate/ssh_key.hpp"
#include "pam_test_support.hpp"

namespace jitgate {
namespace {

using namespace std::chrono_literals;
using testing::PamHandle;
using testing::TempDir;

constexpr const char* kUser = "alice";
constexpr const char* kService = "jitgate-test";
constexpr uint64_t kSerial = 4242;

double wallSeconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

::testing::AssertionResult contains(const std::string& text, const std::string& needle) {
  if (text.find(needle) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "no \"" << needle << "\" in \"" << text << "\"";
}

std::vector<std::string> splitArgs(const std::string& args) {
  std::istringstream in(args);
  std::vector<std::string> out;
  for (std::string a; in >> a;) out.push_back(a);
  return out;
}

// What sshd would put in SSH_AUTH_INFO_0 and PAM_RHOST for one login.
struct Attempt {
  std::string user = kUser;
  std::optional<std::string> rhost = std::string("127.0.0.1");
  std::optional<std::string> authInfo;
};

class PamModuleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // The module trusts only root-owned CA and KRL files, and the cutoff
    // watchdog signals as root.
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
    std::filesystem::create_directory(confdir());
    caFile_ = dir_ / "ca.pub";
    testing::writeFileWithMode(caFile_, ca_.publicLine("jitgate-test-ca") + "\n", 0644);
    now_ = std::chrono::floor<Seconds>(std::chrono::system_clock::now());
  }

  void TearDown() override {
    // Every session a test opened has ended: no watchdog may outlive it.
    EXPECT_TRUE(testing::waitWatchdogsGone(::getpid(), 2s));
  }

  std::string confdir() const { return dir_ / "pam.d"; }

  // The service file: one "TYPE required MODULE ARGS" line per entry.
  void configure(const std::vector<std::pair<std::string, std::string>>& lines) {
    std::string text;
    for (const auto& [type, args] : lines)
      text += type + " required " + PAM_MODULE_PATH + " " + args + "\n";
    testing::writeFileWithMode(confdir() + "/" + kService, text, 0644);
  }
  void configure(const std::string& type, const std::string& args) { configure({{type, args}}); }

  std::string sessionArgs() const { return "ca=" + caFile_ + " target=web1 cutoff=" + CUTOFF_PATH; }

  // A grant's certificate for alice: a one-hour window that began a minute
  // ago, from 127.0.0.1 only.
  SshCertRequest request() const {
    SshCertRequest r;
    r.subjectKey = userKey_.publicBlob();
    r.serial = kSerial;
    r.keyId = "jitgate pam test";
    r.principals = {std::string(kUser) + "@web1"};
    r.validAfter = now_ - 60s;
    r.validBefore = now_ + 1h;
    r.sourceAddresses = {Cidr::parse("127.0.0.1/32").value()};
    r.extensions = {"permit-pty"};
    return r;
  }

  // "publickey TYPE BASE64", as sshd 9.2 writes SSH_AUTH_INFO_0.
  static std::string authInfo(const SshCertRequest& req, const SigningKey& signer) {
    auto blob = issueSshCertificate(signer, req);
    EXPECT_TRUE(blob.ok()) << blob.refusal().describe();
    if (!blob.ok()) return "";
    auto line = sshCertificateLine(*blob, "");
    while (!line.empty() && line.back() == ' ') line.pop_back();
    return "publickey " + line;
  }
  std::string authInfo(const SshCertRequest& req) const { return authInfo(req, ca_); }
  Attempt with(const SshCertRequest& req) const {
    return Attempt{kUser, "127.0.0.1", authInfo(req)};
  }

  static void prepare(PamHandle& pam, const Attempt& a) {
    ASSERT_EQ(pam.started(), PAM_SUCCESS);
    if (a.rhost) {
      ASSERT_EQ(pam.setRhost(*a.rhost), PAM_SUCCESS);
    }
    if (a.authInfo) {
      ASSERT_EQ(pam.setAuthInfo(*a.authInfo), PAM_SUCCESS);
    }
  }

  // pam_open_session's code; a session that opens is closed again.
  int openSession(const Attempt& a) {
    PamHandle pam(confdir(), kService, a.user);
    prepare(pam, a);
    int rc = pam.openSession();
    if (rc == PAM_SUCCESS) {
      EXPECT_EQ(pam.closeSession(), PAM_SUCCESS);
    }
    return rc;
  }
  int account(const Attempt& a) {
    PamHandle pam(confdir(), kService, a.user);
    prepare(pam, a);
    return pam.account();
  }

  // The reason the module's logic gives (what it logs with pam_syslog),
  // with the arguments of the service file.
  std::string reason(const Attempt& a, const std::string& args) const {
    auto parsed = pam::parseArgs(splitArgs(args));
    EXPECT_TRUE(parsed.ok());
    if (!parsed.ok()) return "";
    return pam::checkCertificate(*parsed, a.user, a.rhost.value_or(""), a.authInfo.value_or(""),
                                 static_cast<int64_t>(::time(nullptr)))
        .reason;
  }

  // Session refused with PAM_PERM_DENIED for `why`, and no watchdog started.
  void expectSessionDenied(const Attempt& a, const std::string& why) {
    configure("session", sessionArgs());
    EXPECT_EQ(openSession(a), PAM_PERM_DENIED);
    EXPECT_TRUE(testing::cutoffWatchdogs(::getpid()).empty());
    EXPECT_TRUE(contains(reason(a, sessionArgs()), why));
  }

  TempDir dir_;
  SigningKey ca_ = SigningKey::generate(KeyAlgorithm::Ed25519).value();
  SigningKey userKey_ = SigningKey::generate(KeyAlgorithm::Ed25519).value();
  std::string caFile_;
  SysTime now_;
};

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

// A Unix socket that accepts connections (the kernel queues them) but is
// never read: a jitgated that hangs.
class SilentSocket {
 public:
  explicit SilentSocket(const std::string& path) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::strncpy(sa.sun_path, path.c_str(), sizeof sa.sun_path - 1);
    ok_ = fd_ >= 0 && ::bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0 &&
          ::listen(fd_, 8) == 0;
  }
  ~SilentSocket() {
    if (fd_ >= 0) ::close(fd_);
  }
  SilentSocket(const SilentSocket&) = delete;
  SilentSocket& operator=(const SilentSocket&) = delete;
  bool ok() const { return ok_; }

 private:
  int fd_ = -1;
  bool ok_ = false;
};

// A Unix socket server that gives every connection the same bytes after
// reading the request head: a jitgated (or something else) whose answer the
// test chooses.
class CannedAnswer {
 public:
  CannedAnswer(const std::string& path, std::string answer) : answer_(std::move(answer)) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::strncpy(sa.sun_path, path.c_str(), sizeof sa.sun_path - 1);
    ok_ = fd_ >= 0 && ::bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0 &&
          ::listen(fd_, 8) == 0;
    if (ok_) thread_ = std::thread([this] { serve(); });
  }
  ~CannedAnswer() {
    if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);  // wakes accept()
    if (thread_.joinable()) thread_.join();
    if (fd_ >= 0) ::close(fd_);
  }
  CannedAnswer(const CannedAnswer&) = delete;
  CannedAnswer& operator=(const CannedAnswer&) = delete;
  bool ok() const { return ok_; }

  static std::string http(int status, const std::string& body) {
    return "HTTP/1.1 " + std::to_string(status) +
           " X\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n\r\n" + body;
  }

 private:
  void serve() {
    for (;;) {
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) return;
      std::string head;
      char buf[1024];
      while (head.find("\r\n\r\n") == std::string::npos && head.size() < 65536) {
        ssize_t n = ::read(c, buf, sizeof buf);
        if (n <= 0) break;
        head.append(buf, static_cast<size_t>(n));
      }
      size_t off = 0;
      while (off < answer_.size()) {
        ssize_t n = ::send(c, answer_.data() + off, answer_.size() - off, MSG_NOSIGNAL);
        if (n <= 0) break;
        off += static_cast<size_t>(n);
      }
      ::close(c);
    }
  }

  std::string answer_;
  int fd_ = -1;
  bool ok_ = false;
  std::thread thread_;
};

// unreachable=allow is for a jitgated that cannot be reached, never for one
// that answered: every definite answer but "allowed": true denies, each with
// its reason.
TEST_F(PamModuleTest, OnlineDefiniteAnswersDenyEvenWithUnreachableAllow) {
  const std::string error503 =
      R"({"error":{"code":"unavailable","field":"","message":"store: database is locked"}})";
  struct Case {
    const char* name;
    std::string answer;
    const char* why;
  } cases[] = {
      {"503 (store down)", CannedAnswer::http(503, error503),
       "jitgated answered HTTP 503: store: database is locked; denied "
       "(unreachable=allow covers no answer only)"},
      {"500", CannedAnswer::http(500, "{}"), "answered HTTP 500"},
      {"403", CannedAnswer::http(403, R"({"error":{"code":"forbidden","message":"not root"}})"),
       "answered HTTP 403"},
      {"404", CannedAnswer::http(404, "no such thing"), "answered HTTP 404"},
      {"400", CannedAnswer::http(400, "{}"), "answered HTTP 400"},
      {"200 without a decision", CannedAnswer::http(200, R"({"grant":"g-1"})"),
       "answered HTTP 200 without a decision"},
      {"200 not JSON", CannedAnswer::http(200, "allowed"), "answered HTTP 200 without a decision"},
      {"200 allowed not a bool", CannedAnswer::http(200, R"({"allowed":"yes"})"),
       "answered HTTP 200 without a decision"},
      {"not HTTP", "SSH-2.0-OpenSSH_9.2p1\r\n", "answered malformed HTTP answer"},
  };
  int n = 0;
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    auto path = dir_ / ("canned" + std::to_string(++n) + ".sock");
    CannedAnswer server(path, c.answer);
    ASSERT_TRUE(server.ok()) << std::strerror(errno);
    std::string args = "ca=" + caFile_ + " online=" + path + " target=web1 unreachable=allow";
    configure("account", args);
    EXPECT_EQ(account(Attempt{}), PAM_PERM_DENIED);
    auto v = pam::checkOnline(pam::parseArgs(splitArgs(args)).value(), kUser, "127.0.0.1");
    EXPECT_FALSE(v.allowed);
    EXPECT_TRUE(contains(v.reason, c.why)) << v.reason;
  }
  // The control: the same server with a yes lets in, so the refusals above
  // are the answers' doing.
  auto path = dir_ / "canned-yes.sock";
  CannedAnswer yes(path, CannedAnswer::http(200, R"({"allowed":true,"grant":"g-1"})"));
  ASSERT_TRUE(yes.ok());
  configure("account", "ca=" + caFile_ + " online=" + path + " target=web1 unreachable=allow");
  EXPECT_EQ(account(Attempt{}), PAM_SUCCESS);
  configure("account", "ca=" + caFile_ + " online=" + path + " target=web1");
  EXPECT_EQ(account(Attempt{}), PAM_SUCCESS);
}

TEST_F(PamModuleTest, OnlineUnreachableFailsClosedUnlessAllowed) {
  auto absent = dir_ / "absent.sock";
  configure("account", "ca=" + caFile_ + " online=" + absent + " target=web1");
  EXPECT_EQ(account(Attempt{}), PAM_PERM_DENIED);
  configure("account", "ca=" + caFile_ + " online=" + absent + " target=web1 unreachable=allow");
  EXPECT_EQ(account(Attempt{}), PAM_SUCCESS);
}

TEST_F(PamModuleTest, OnlineSilentDaemonTimesOut) {
  auto path = dir_ / "silent.sock";
  SilentSocket silent(path);
  ASSERT_TRUE(silent.ok()) << std::strerror(errno);
  configure("account", "ca=" + caFile_ + " online=" + path + " target=web1 timeout=300");
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(account(Attempt{}), PAM_PERM_DENIED);
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, 250ms);
  EXPECT_LT(took, 1s);

  configure("account",
            "ca=" + caFile_ + " online=" + path + " target=web1 timeout=300 unreachable=allow");
  start = std::chrono::steady_clock::now();
  EXPECT_EQ(account(Attempt{}), PAM_SUCCESS);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
}

// The real jitgated on a control socket, with target web1 (port 22 from
// 127.0.0.0/8) and a one-hour grant for alice from 127.0.0.1/32.
class PamOnlineTest : public PamModuleTest {
 protected:
  void SetUp() override {
    PamModuleTest::SetUp();
    if (IsSkipped()) return;
    socket_ = dir_ / "c.sock";
    daemon_ = std::make_unique<testing::Daemon>(
        JITGATED_BIN,
        std::vector<std::string>{"--state-dir", dir_ / "state", "--control-socket", socket_},
        dir_ / "daemon.log");
    ASSERT_TRUE(daemon_->waitReady()) << daemon_->log();
    auto t = jitctl({"target", "add", "web1", "--address", "127.0.0.1", "--os", "linux"});
    ASSERT_EQ(t.exitCode, 0) << t.err;
    auto p = jitctl({"policy", "enable", "web1", "--port", "22", "--from", "127.0.0.0/8"});
    ASSERT_EQ(p.exitCode, 0) << p.err;
    auto g = jitctl({"grant", kUser, "web1", "--port", "22", "--from", "127.0.0.1/32", "--for",
                     "1h", "--justification", "pam test"});
    ASSERT_EQ(g.exitCode, 0) << g.err;
    grant_ = g.out;
    while (!grant_.empty() && grant_.back() == '\n') grant_.pop_back();
  }

  testing::RunResult jitctl(std::vector<std::string> args) {
    args.insert(args.begin(), {JITCTL_BIN, "--socket", socket_});
    return testing::run(args, dir_.path());
  }

  std::string onlineArgs() const {
    return "ca=" + caFile_ + " online=" + socket_ + " target=web1 port=22";
  }

  std::string socket_;
  std::string grant_;
  std::unique_ptr<testing::Daemon> daemon_;
};

TEST_F(PamOnlineTest, AccountFollowsTheGrant) {
  configure("account", onlineArgs());
  EXPECT_EQ(account(Attempt{}), PAM_SUCCESS);
  EXPECT_EQ(account(Attempt{kUser, "10.9.9.9", std::nullopt}), PAM_PERM_DENIED);
  EXPECT_EQ(account(Attempt{"bob", "127.0.0.1", std::nullopt}), PAM_PERM_DENIED);
  EXPECT_EQ(account(Attempt{kUser, std::nullopt, std::nullopt}), PAM_PERM_DENIED);

  // Another port than the grant's.
  configure("account", "ca=" + caFile_ + " online=" + socket_ + " target=web1 port=2222");
  EXPECT_EQ(account(Attempt{}), PAM_PERM_DENIED);
  // Another target.
  configure("account", "ca=" + caFile_ + " online=" + socket_ + " target=web2 port=22");
  EXPECT_EQ(account(Attempt{}), PAM_PERM_DENIED);

  configure("account", onlineArgs());
  auto r = jitctl({"revoke", grant_});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(account(Attempt{}), PAM_PERM_DENIED);
}

TEST_F(PamOnlineTest, OnlineGrantDoesNotExcuseABadCertificate) {
  // With SSH_AUTH_INFO_0 present, a grant is not enough: the certificate
  // is checked too.
  configure("account", onlineArgs());
  EXPECT_EQ(account(with(request())), PAM_SUCCESS);
  auto expired = request();
  expired.validAfter = now_ - 2h;
  expired.validBefore = now_ - 1h;
  EXPECT_EQ(account(with(expired)), PAM_PERM_DENIED);
}

TEST_F(PamOnlineTest, DaemonStoppedFailsClosed) {
  configure("account", onlineArgs());
  ASSERT_EQ(account(Attempt{}), PAM_SUCCESS);
  daemon_->stop();
  EXPECT_EQ(account(Attempt{}), PAM_PERM_DENIED);
}

// ----------------------------------------------------------------- cutoff

// The watchdog ends the session process and everything below it, so the
// session runs in a child of the test, never in the test itself.
class PamCutoffTest : public PamModuleTest {
 protected:
  struct Outcome {
    int status = 0;
    double endedAt = 0;  // wall-clock seconds
  };

  // Forks a "session host": opens the session (exit 10 if refused), then,
  // when `closeAfter` is set, closes it that many seconds later; then
  // sleeps until `sleepUntil` and exits 0.
  Outcome runSession(const Attempt& a, std::optional<std::chrono::milliseconds> closeAfter,
                     double sleepUntil, bool ignoreTerm = false) {
    pid_t child = ::fork();
    if (child < 0) throw std::runtime_error("fork");
    if (child == 0) {
      if (ignoreTerm) ::signal(SIGTERM, SIG_IGN);
      {
        PamHandle pam(confdir(), kService, a.user);
        if (pam.started() != PAM_SUCCESS || pam.setRhost(*a.rhost) != PAM_SUCCESS ||
            pam.setAuthInfo(*a.authInfo) != PAM_SUCCESS)
          ::_exit(11);
        if (pam.openSession() != PAM_SUCCESS) ::_exit(10);
        if (closeAfter) {
          std::this_thread::sleep_for(*closeAfter);
          if (pam.closeSession() != PAM_SUCCESS) ::_exit(12);
          pam.end();
        }
        while (wallSeconds() < sleepUntil)
          std::this_thread::sleep_for(std::chrono::duration<double>(sleepUntil - wallSeconds()));
      }
      ::_exit(0);
    }
    child_ = child;
    // The watchdog appears while the session opens.
    sawWatchdog_ = testing::waitForWatchdog(child, 1s).has_value();
    Outcome o;
    ::waitpid(child, &o.status, 0);
    o.endedAt = wallSeconds();
    child_ = -1;
    return o;
  }

  void TearDown() override {
    if (child_ > 0) {
      ::kill(child_, SIGKILL);
      ::waitpid(child_, nullptr, 0);
    }
    PamModuleTest::TearDown();
    EXPECT_TRUE(testing::waitWatchdogsGone(std::nullopt, 3s));
  }

  pid_t child_ = -1;
  bool sawWatchdog_ = false;
};

TEST_F(PamCutoffTest, SessionIsEndedAtValidBefore) {
  configure("session", sessionArgs() + " grace=1");
  auto req = request();
  req.validBefore = now_ + 3s;
  double validBefore = static_cast<double>(req.validBefore.time_since_epoch().count());
  auto out = runSession(with(req), std::nullopt, wallSeconds() + 30);
  EXPECT_TRUE(sawWatchdog_);
  ASSERT_TRUE(WIFSIGNALED(out.status)) << "exit " << WEXITSTATUS(out.status);
  EXPECT_EQ(WTERMSIG(out.status), SIGTERM);
  EXPECT_GE(out.endedAt, validBefore - 1);
  EXPECT_LE(out.endedAt, validBefore + 2);
  // Its work done, the watchdog goes once the session process has.
  EXPECT_TRUE(testing::waitWatchdogsGone(std::nullopt, 3s));
}

TEST_F(PamCutoffTest, SessionIgnoringSigtermIsKilledAfterTheGrace) {
  configure("session", sessionArgs() + " grace=1");
  auto req = request();
  req.validBefore = now_ + 3s;
  double validBefore = static_cast<double>(req.validBefore.time_since_epoch().count());
  auto out = runSession(with(req), std::nullopt, wallSeconds() + 30, /*ignoreTerm=*/true);
  ASSERT_TRUE(WIFSIGNALED(out.status)) << "exit " << WEXITSTATUS(out.status);
  EXPECT_EQ(WTERMSIG(out.status), SIGKILL);
  EXPECT_GE(out.endedAt, validBefore + 1 - 0.5);
  EXPECT_LE(out.endedAt, validBefore + 1 + 2);
  EXPECT_TRUE(testing::waitWatchdogsGone(std::nullopt, 3s));
}

TEST_F(PamCutoffTest, ClosedSessionIsNotCutOff) {
  configure("session", sessionArgs() + " grace=1");
  auto req = request();
  req.validBefore = now_ + 3s;
  double validBefore = static_cast<double>(req.validBefore.time_since_epoch().count());
  auto out = runSession(with(req), 500ms, validBefore + 2);
  EXPECT_TRUE(sawWatchdog_);
  ASSERT_TRUE(WIFEXITED(out.status)) << "signal " << WTERMSIG(out.status);
  EXPECT_EQ(WEXITSTATUS(out.status), 0);
  EXPECT_GE(out.endedAt, validBefore + 2);
}

}  // namespace
}  // namespace jitgate
