// The SSH bastion end to end: the real OpenSSH client, jitgated's SSH front,
// and a real sshd on 127.0.0.1 trusting jitgate's CA as the target.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <libssh/libssh.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <fstream>
#include <regex>
#include <thread>

#include "../support/process.hpp"
#include "../support/sshd.hpp"
#include "../support/test_support.hpp"
#include "jitgate/timefmt.hpp"

namespace jitgate {
namespace {

using testing::Daemon;
using testing::RunResult;
using testing::TempDir;
using namespace std::chrono_literals;

int portFromLog(const std::string& log, const std::string& front) {
  std::smatch m;
  std::regex re(front + " 127\\.0\\.0\\.1:([0-9]+)");
  if (!std::regex_search(log, m, re)) return 0;
  return std::stoi(m[1]);
}

// A process started in the background (ssh -N -L, a long command), stopped
// at the end of the test.
class Background {
 public:
  Background(const std::vector<std::string>& argv, const std::string& outPath,
             const std::string& errPath) {
    pid_ = ::fork();
    if (pid_ == 0) {
      int out = ::open(outPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      int err = ::open(errPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      int nul = ::open("/dev/null", O_RDONLY);
      ::dup2(nul, 0);
      ::dup2(out, 1);
      ::dup2(err, 2);
      testing::execOrExplain(argv);
    }
  }
  ~Background() { stop(); }
  // Exit code once it ends by itself within `limit`; nullopt if still running.
  std::optional<int> waitExit(std::chrono::milliseconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (pid_ > 0) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        exited_ = std::chrono::steady_clock::now();
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
      std::this_thread::sleep_for(10ms);
    }
    return std::nullopt;
  }
  std::chrono::steady_clock::time_point exitedAt() const { return exited_; }
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
  std::chrono::steady_clock::time_point exited_{};
};

int connectTcp(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

class SshBastionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = testing::sshdUnavailableReason(); !why.empty()) GTEST_SKIP() << why;
    ::chmod(dir_.path().c_str(), 0755);
    socket_ = dir_ / "c.sock";
    startDaemon({});
    user_ = std::make_unique<testing::UnixLoginUser>();
    ASSERT_EQ(
        testing::run({testing::kSshKeygenPath, "-q", "-t", "ed25519", "-N", "", "-f", dir_ / "id"},
                     dir_.path())
            .exitCode,
        0);
    testing::SshdOptions opts;
    opts.trustedUserCaKeys = out({"ca", "export", "--ssh"}) + "\n";
    opts.extraConfig.push_back("Subsystem sftp internal-sftp");
    sshd_ = std::make_unique<testing::Sshd>(opts);
    targetPort_ = std::to_string(sshd_->port());
    ASSERT_EQ(jitctl({"target", "add", "vm1", "--address", "127.0.0.1", "--os", "linux",
                      "--ssh-port", targetPort_})
                  .exitCode,
              0);
    ASSERT_EQ(jitctl({"policy", "enable", "vm1", "--port", targetPort_, "--port", "3389"}).exitCode,
              0);
    ASSERT_EQ(jitctl({"user", "add", user_->name(), "--key", dir_ / "id.pub"}).exitCode, 0);
    std::ofstream(dir_ / "ssh_config")
        << "Host *\n  IdentityFile " << (dir_ / "id") << "\n  IdentitiesOnly yes\n"
        << "  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  BatchMode yes\n"
        << "  ConnectTimeout 5\n";
  }

  // Under ASan+UBSan the daemon's reports land in its log: any is a failure.
  void TearDown() override {
    if (daemon_) daemon_->stop();
    auto log = testing::slurp(dir_ / "daemon.log");
    for (const char* report : {"AddressSanitizer", "LeakSanitizer", "runtime error:"})
      EXPECT_EQ(log.find(report), std::string::npos) << log;
  }

  void startDaemon(std::vector<std::string> extra) {
    std::vector<std::string> args{"--state-dir", dir_ / "state", "--control-socket", socket_};
    args.insert(args.end(), extra.begin(), extra.end());
    daemon_.reset();
    daemon_ = std::make_unique<Daemon>(JITGATED_BIN, args, dir_ / "daemon.log");
    ASSERT_TRUE(daemon_->waitReady()) << daemon_->log();
    bastionPort_ = portFromLog(daemon_->log(), "ssh");
    ASSERT_GT(bastionPort_, 0) << daemon_->log();
  }

  RunResult jitctl(std::vector<std::string> args) {
    args.insert(args.begin(), {JITCTL_BIN, "--socket", socket_});
    return testing::run(args, dir_.path());
  }
  std::string out(std::vector<std::string> args) {
    auto r = jitctl(std::move(args));
    EXPECT_EQ(r.exitCode, 0) << r.err;
    while (!r.out.empty() && r.out.back() == '\n') r.out.pop_back();
    return r.out;
  }
  std::string grant(const std::string& port, const std::string& from = "127.0.0.1",
                    const std::string& duration = "30m") {
    return out({"grant", user_->name(), "vm1", "--port", port, "--from", from, "--for", duration});
  }

  // ssh through the bastion in terminating mode: USER@vm1@127.0.0.1.
  std::vector<std::string> sshArgs(std::vector<std::string> extra = {}) {
    std::vector<std::string> a{testing::kSshPath, "-F", dir_ / "ssh_config", "-p",
                               std::to_string(bastionPort_)};
    a.insert(a.end(), extra.begin(), extra.end());
    a.push_back(user_->name() + "@vm1@127.0.0.1");
    return a;
  }
  RunResult ssh(const std::string& command, std::vector<std::string> extra = {}) {
    auto a = sshArgs(std::move(extra));
    a.push_back(command);
    return testing::run(a, dir_.path());
  }
  std::string audit() { return jitctl({"audit", "--csv"}).out; }

  // Restarts jitgated on the same state with a config file.
  void restartWithConfig(const std::string& toml) {
    std::string conf = dir_ / "jitgated.toml";
    std::ofstream(conf) << toml;
    ::chmod(conf.c_str(), 0600);
    startDaemon({"--config", conf});
  }

  TempDir dir_;
  std::string socket_;
  std::unique_ptr<Daemon> daemon_;
  std::unique_ptr<testing::UnixLoginUser> user_;
  std::unique_ptr<testing::Sshd> sshd_;
  std::string targetPort_;
  int bastionPort_ = 0;
};

TEST_F(SshBastionTest, GrantedUserRunsACommandOnTheTargetThroughTheBastion) {
  auto id = grant(targetPort_);
  auto r = ssh("echo hello-from-$(whoami); exit 7");
  EXPECT_EQ(r.exitCode, 7) << r.err << daemon_->log();
  EXPECT_EQ(r.out, "hello-from-" + user_->name() + "\n");
  // The target saw the bastion's own certificate for this grant.
  EXPECT_NE(sshd_->log().find("jitgate hop grant=" + id), std::string::npos) << sshd_->log();
  auto a = audit();
  EXPECT_NE(a.find("session.connect"), std::string::npos) << a;
  EXPECT_NE(a.find("session.disconnect"), std::string::npos) << a;
  EXPECT_NE(a.find("reason=client_closed"), std::string::npos) << a;
  // The target's summary shows who came last, from where.
  auto view = out({"target", "show", "vm1", "--json"});
  EXPECT_NE(view.find("\"lastUser\":\"" + user_->name() + "\""), std::string::npos) << view;
  EXPECT_NE(view.find("\"lastSource\":\"127.0.0.1\""), std::string::npos) << view;
}

TEST_F(SshBastionTest, PtyShellGetsATerminalAndItsSize) {
  grant(targetPort_);
  // -tt forces a pty; stty reports the size the client asked for.
  auto r = ssh("tty; stty size; echo $TERM", {"-tt", "-o", "SetEnv=TERM=vt100"});
  EXPECT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.out.find("/dev/pts/"), std::string::npos) << r.out;
}

TEST_F(SshBastionTest, AgentForwardingIsNotPassedOn) {
  grant(targetPort_);
  std::string agent = dir_ / "agent.sock";
  Background agentd({"/usr/bin/ssh-agent", "-D", "-a", agent}, dir_ / "agent.out",
                    dir_ / "agent.err");
  for (int i = 0; i < 100 && ::access(agent.c_str(), F_OK) != 0; ++i)
    std::this_thread::sleep_for(20ms);
  auto a = sshArgs({"-A"});
  a.push_back("echo agent=${SSH_AUTH_SOCK:-none}");
  auto r = testing::run(a, dir_.path(), std::nullopt, {"SSH_AUTH_SOCK=" + agent});
  EXPECT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out, "agent=none\n") << r.err;
}

TEST_F(SshBastionTest, FiftyMegabytesRoundTripByteIdenticalWithScpAndSftp) {
  grant(targetPort_);
  std::string src = dir_ / "big.bin";
  ASSERT_EQ(testing::run({"/bin/sh", "-c", "head -c 52428800 /dev/urandom > " + src}, dir_.path())
                .exitCode,
            0);
  std::string remote = user_->home() + "/big.bin";
  for (const char* mode : {"-s", "-O"}) {  // SFTP protocol, then the legacy scp protocol
    std::string back = dir_ / (std::string("back") + mode + ".bin");
    std::vector<std::string> base{"/usr/bin/scp",
                                  mode,
                                  "-q",
                                  "-F",
                                  dir_ / "ssh_config",
                                  "-P",
                                  std::to_string(bastionPort_),
                                  "-o",
                                  "User=" + user_->name() + "@vm1"};
    auto up = base;
    up.push_back(src);
    up.push_back("127.0.0.1:" + remote);
    auto r = testing::run(up, dir_.path());
    ASSERT_EQ(r.exitCode, 0) << mode << " upload: " << r.err << daemon_->log();
    auto down = base;
    down.push_back("127.0.0.1:" + remote);
    down.push_back(back);
    r = testing::run(down, dir_.path());
    ASSERT_EQ(r.exitCode, 0) << mode << " download: " << r.err;
    auto cmp = testing::run({"/usr/bin/cmp", src, back}, dir_.path());
    EXPECT_EQ(cmp.exitCode, 0) << mode << ": " << cmp.out;
  }
  auto a = audit();
  EXPECT_NE(a.find("bytes_to_target=5"), std::string::npos) << a;  // 52 MB and some
}

// OpenSSH rekeys after about 1 GiB; RekeyLimit makes both hops rekey every
// megabyte here (the client the outer connection, the target sshd the hop).
TEST_F(SshBastionTest, TransfersSurviveRekeyingOnBothHops) {
  sshd_.reset();
  testing::SshdOptions opts;
  opts.trustedUserCaKeys = out({"ca", "export", "--ssh"}) + "\n";
  opts.extraConfig = {"RekeyLimit 1M"};
  sshd_ = std::make_unique<testing::Sshd>(opts);
  targetPort_ = std::to_string(sshd_->port());
  ASSERT_EQ(jitctl({"target", "remove", "vm1"}).exitCode, 0);
  ASSERT_EQ(jitctl({"target", "add", "vm1", "--address", "127.0.0.1", "--os", "linux", "--ssh-port",
                    targetPort_})
                .exitCode,
            0);
  ASSERT_EQ(jitctl({"policy", "enable", "vm1", "--port", targetPort_}).exitCode, 0);
  grant(targetPort_);
  std::string ssh;
  for (const auto& x : sshArgs({"-o", "RekeyLimit=1M"})) ssh += "'" + x + "' ";
  const std::string zeros20MB = "10e4462c9d0b08e7f0b304c4fbfeafa3  -\n";
  auto up = testing::run({"/bin/sh", "-c", "head -c 20000000 /dev/zero | " + ssh + " md5sum"},
                         dir_.path());
  EXPECT_EQ(up.exitCode, 0) << up.err << daemon_->log();
  EXPECT_EQ(up.out, zeros20MB) << up.err;
  auto down =
      testing::run({"/bin/sh", "-c", ssh + " 'head -c 20000000 /dev/zero' | md5sum"}, dir_.path());
  EXPECT_EQ(down.exitCode, 0) << down.err;
  EXPECT_EQ(down.out, zeros20MB) << down.err;

  // The same through -J: the bastion relays TCP while its client connection
  // rekeys (the config file, and so RekeyLimit, applies to the jump too).
  auto id = out({"grants", "--active", "--json"});
  std::smatch m;
  ASSERT_TRUE(std::regex_search(id, m, std::regex("\"id\": *\"(g-[0-9a-f]+)\""))) << id;
  ASSERT_EQ(
      jitctl({"cert", "ssh", m[1].str(), "--pubkey", dir_ / "id.pub", "-o", dir_ / "id-cert.pub"})
          .exitCode,
      0);
  std::ofstream(dir_ / "rekey_config")
      << testing::slurp(dir_ / "ssh_config") << "  RekeyLimit 1M\n";
  std::string jump = std::string(testing::kSshPath) + " -F " + (dir_ / "rekey_config") + " -J " +
                     user_->name() + "@127.0.0.1:" + std::to_string(bastionPort_) + " -p " +
                     targetPort_ + " " + user_->name() + "@vm1";
  up = testing::run({"/bin/sh", "-c", "head -c 20000000 /dev/zero | " + jump + " md5sum"},
                    dir_.path());
  EXPECT_EQ(up.out, zeros20MB) << up.err;
  down =
      testing::run({"/bin/sh", "-c", jump + " 'head -c 20000000 /dev/zero' | md5sum"}, dir_.path());
  EXPECT_EQ(down.out, zeros20MB) << down.err;
}

TEST_F(SshBastionTest, RefusalsSayWhyAndReachNothing) {
  // No grant at all.
  auto r = ssh("echo should-not-run");
  EXPECT_EQ(r.exitCode, 255);
  EXPECT_NE(r.err.find("jitgate: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("no active grant"), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "");

  // A grant for another port of the target.
  grant("3389");
  r = ssh("echo should-not-run");
  EXPECT_EQ(r.exitCode, 255);
  EXPECT_NE(r.err.find("port " + targetPort_), std::string::npos) << r.err;

  // A grant for the port, from another source: the client comes from 127.0.0.2.
  grant(targetPort_);
  r = ssh("echo should-not-run", {"-b", "127.0.0.2"});
  EXPECT_EQ(r.exitCode, 255);
  EXPECT_NE(r.err.find("127.0.0.2"), std::string::npos) << r.err;
  // From 127.0.0.1 it passes.
  r = ssh("echo ok");
  EXPECT_EQ(r.out, "ok\n") << r.err;

  // An unknown target.
  auto a = sshArgs();
  a.back() = user_->name() + "@vm9@127.0.0.1";
  a.push_back("true");
  r = testing::run(a, dir_.path());
  EXPECT_EQ(r.exitCode, 255);
  EXPECT_NE(r.err.find("no enrolled target named 'vm9'"), std::string::npos) << r.err;

  auto log = audit();
  for (const char* reason : {"reason=no_grant", "reason=port_not_granted",
                             "reason=source_not_allowed", "reason=unknown_target"})
    EXPECT_NE(log.find(reason), std::string::npos) << reason << "\n" << log;
  // Only the one granted session reached the target.
  size_t hops = 0;
  for (size_t at = 0;
       (at = sshd_->log().find("Accepted certificate ID \"jitgate hop", at)) != std::string::npos;
       ++at)
    ++hops;
  EXPECT_EQ(hops, 1u) << sshd_->log();
}

TEST_F(SshBastionTest, AnUnregisteredKeyIsRefused) {
  grant(targetPort_);
  ASSERT_EQ(
      testing::run({testing::kSshKeygenPath, "-q", "-t", "ed25519", "-N", "", "-f", dir_ / "other"},
                   dir_.path())
          .exitCode,
      0);
  std::ofstream(dir_ / "other_config")
      << "Host *\n  IdentityFile " << (dir_ / "other") << "\n  IdentitiesOnly yes\n"
      << "  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  BatchMode yes\n";
  auto r = testing::run({testing::kSshPath, "-F", dir_ / "other_config", "-p",
                         std::to_string(bastionPort_), user_->name() + "@vm1@127.0.0.1", "true"},
                        dir_.path());
  EXPECT_EQ(r.exitCode, 255);
  EXPECT_NE(r.err.find("Permission denied"), std::string::npos) << r.err;
  EXPECT_NE(audit().find("reason=authentication_failed"), std::string::npos);
}

TEST_F(SshBastionTest, AJitgateUserCertificateAuthenticatesWithoutARegisteredKey) {
  ASSERT_EQ(jitctl({"user", "remove", user_->name()}).exitCode, 0);
  auto id = grant(targetPort_);
  // Not id-cert.pub: ssh would offer that one by itself next to id.
  ASSERT_EQ(jitctl({"cert", "ssh", id, "--pubkey", dir_ / "id.pub", "-o", dir_ / "user-cert.pub"})
                .exitCode,
            0);
  auto r = ssh("echo cert-ok", {"-o", "CertificateFile=" + (dir_ / "user-cert.pub")});
  EXPECT_EQ(r.exitCode, 0) << r.err << daemon_->log();
  EXPECT_EQ(r.out, "cert-ok\n");
  // Without the certificate the plain key is no longer anyone's.
  r = ssh("true");
  EXPECT_EQ(r.exitCode, 255);
}

TEST_F(SshBastionTest, AThreeSecondWindowCutsTheLiveSessionAtItsEnd) {
  auto json = out({"grant", user_->name(), "vm1", "--port", targetPort_, "--from", "127.0.0.1",
                   "--for", "3s", "--json"});
  std::smatch m;
  ASSERT_TRUE(std::regex_search(json, m, std::regex("\"endTimeUtc\": *\"([^\"]+)\""))) << json;
  auto end = parseTimestamp(m[1].str());
  ASSERT_TRUE(end) << m[1];
  Background cmd(
      [&] {
        auto a = sshArgs();
        a.push_back("echo started; sleep 60; echo not-cut");
        return a;
      }(),
      dir_ / "cmd.out", dir_ / "cmd.err");
  auto code = cmd.waitExit(10s);
  ASSERT_TRUE(code.has_value()) << "the session outlived its window";
  auto exited = std::chrono::system_clock::now();
  // Cut within a second of the end (never before it).
  EXPECT_GE(exited, *end);
  EXPECT_LT(exited - *end, 1s);
  EXPECT_EQ(testing::slurp(dir_ / "cmd.out"), "started\n");
  auto err = testing::slurp(dir_ / "cmd.err");
  EXPECT_NE(err.find("jitgate: access to vm1 ended at " + m[1].str() + " (window expired)"),
            std::string::npos)
      << err;
  auto a = audit();
  EXPECT_NE(a.find("reason=expired"), std::string::npos) << a;
}

TEST_F(SshBastionTest, AfterARestartNewSessionsAreStillCut) {
  auto id = grant(targetPort_);
  daemon_->kill9();
  startDaemon({});
  Background cmd(
      [&] {
        auto a = sshArgs();
        a.push_back("echo started; sleep 60");
        return a;
      }(),
      dir_ / "cmd.out", dir_ / "cmd.err");
  for (int i = 0; i < 100 && testing::slurp(dir_ / "cmd.out").empty(); ++i)
    std::this_thread::sleep_for(50ms);
  ASSERT_EQ(testing::slurp(dir_ / "cmd.out"), "started\n") << testing::slurp(dir_ / "cmd.err");
  ASSERT_EQ(jitctl({"revoke", id}).exitCode, 0);
  ASSERT_TRUE(cmd.waitExit(3s).has_value());
  EXPECT_NE(testing::slurp(dir_ / "cmd.err").find("(grant revoked)"), std::string::npos);
}

TEST_F(SshBastionTest, RevokeDuringATransferCutsIt) {
  auto id = grant(targetPort_);
  Background cmd(
      [&] {
        auto a = sshArgs();
        a.push_back("cat /dev/zero");
        return a;
      }(),
      "/dev/null", dir_ / "cmd.err");
  // Let data flow, then revoke.
  std::this_thread::sleep_for(1500ms);
  ASSERT_FALSE(cmd.waitExit(0ms).has_value()) << testing::slurp(dir_ / "cmd.err");
  ASSERT_EQ(jitctl({"revoke", id}).exitCode, 0);
  auto revoked = std::chrono::steady_clock::now();
  ASSERT_TRUE(cmd.waitExit(5s).has_value());
  EXPECT_LT(cmd.exitedAt() - revoked, 1500ms);
  auto err = testing::slurp(dir_ / "cmd.err");
  EXPECT_NE(err.find("(grant revoked)"), std::string::npos) << err;
  auto a = audit();
  EXPECT_NE(a.find("reason=revoked"), std::string::npos) << a;
}

TEST_F(SshBastionTest, ProxyJumpReachesAGrantedTargetPortOnly) {
  auto id = grant(targetPort_);
  ASSERT_EQ(
      jitctl({"cert", "ssh", id, "--pubkey", dir_ / "id.pub", "-o", dir_ / "id-cert.pub"}).exitCode,
      0);
  auto jump = [&](const std::string& host, const std::string& port) {
    return testing::run({testing::kSshPath, "-F", dir_ / "ssh_config", "-o",
                         "CertificateFile=" + (dir_ / "id-cert.pub"), "-J",
                         user_->name() + "@127.0.0.1:" + std::to_string(bastionPort_), "-p", port,
                         user_->name() + "@" + host, "echo jumped"},
                        dir_.path());
  };
  auto r = jump("vm1", targetPort_);
  EXPECT_EQ(r.exitCode, 0) << r.err << daemon_->log();
  EXPECT_EQ(r.out, "jumped\n");
  // By address too: the target enrolled at 127.0.0.1.
  r = jump("127.0.0.1", targetPort_);
  EXPECT_EQ(r.out, "jumped\n") << r.err;
  // A port without a grant: refused, with the reason.
  r = jump("vm1", "3389");
  EXPECT_NE(r.exitCode, 0);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("port 3389"), std::string::npos) << r.err;
  // A host that is not an enrolled target.
  r = jump("localhost", targetPort_);
  EXPECT_NE(r.exitCode, 0);
  EXPECT_NE(r.err.find("no enrolled target"), std::string::npos) << r.err;
  auto a = audit();
  EXPECT_NE(a.find("front=ssh-forward"), std::string::npos) << a;
}

TEST_F(SshBastionTest, LocalForwardCarriesAGrantedPortAndRefusesOthers) {
  grant(targetPort_);
  int local = testing::pickFreeLoopbackPort();
  int refusedLocal = testing::pickFreeLoopbackPort();
  Background tunnel(
      {testing::kSshPath, "-F", dir_ / "ssh_config", "-N", "-p", std::to_string(bastionPort_), "-o",
       "ExitOnForwardFailure=yes", "-L",
       "127.0.0.1:" + std::to_string(local) + ":vm1:" + targetPort_, "-L",
       "127.0.0.1:" + std::to_string(refusedLocal) + ":vm1:3389", user_->name() + "@127.0.0.1"},
      dir_ / "tunnel.out", dir_ / "tunnel.err");
  int fd = -1;
  for (int i = 0; i < 100 && fd < 0; ++i) {
    fd = connectTcp(local);
    if (fd < 0) std::this_thread::sleep_for(50ms);
  }
  ASSERT_GE(fd, 0) << testing::slurp(dir_ / "tunnel.err");
  char buf[64] = {};
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ssize_t n = ::recv(fd, buf, sizeof buf - 1, 0);
  ::close(fd);
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(buf, 8), "SSH-2.0-") << buf;  // the target's sshd, through the tunnel

  fd = connectTcp(refusedLocal);
  ASSERT_GE(fd, 0);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  n = ::recv(fd, buf, sizeof buf, 0);
  ::close(fd);
  EXPECT_LE(n, 0);  // closed without a byte
  EXPECT_NE(audit().find("reason=port_not_granted"), std::string::npos);
  // The refused channel did not end the tunnel.
  fd = connectTcp(local);
  ASSERT_GE(fd, 0);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  n = ::recv(fd, buf, sizeof buf - 1, 0);
  ::close(fd);
  EXPECT_GT(n, 0);
}

TEST_F(SshBastionTest, PreAuthenticationLimitsCloseIdleAndExcessConnections) {
  restartWithConfig("[ssh]\nlogin_grace_time = \"2s\"\nmax_per_source = 2\n");
  grant(targetPort_);
  int a = connectTcp(bastionPort_), b = connectTcp(bastionPort_);
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  std::this_thread::sleep_for(300ms);
  // A third from the same source is closed at once.
  int c = connectTcp(bastionPort_);
  ASSERT_GE(c, 0);
  char buf[256];
  timeval tv{5, 0};
  for (int fd : {a, c}) ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ssize_t n = ::recv(c, buf, sizeof buf, 0);
  EXPECT_EQ(n, 0);
  // The first two are closed at login_grace_time (after the server's banner).
  auto started = std::chrono::steady_clock::now();
  while ((n = ::recv(a, buf, sizeof buf, 0)) > 0) {
  }
  EXPECT_EQ(n, 0);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 4s);
  ::close(a);
  ::close(b);
  ::close(c);
  auto log = audit();
  EXPECT_NE(log.find("reason=connection_limit"), std::string::npos) << log;
  EXPECT_NE(log.find("reason=login_grace_time"), std::string::npos) << log;
  // The slots are free again.
  EXPECT_EQ(ssh("echo again").out, "again\n");
}

TEST_F(SshBastionTest, SessionsAreWarnedBeforeTheirWindowEnds) {
  restartWithConfig("[ssh]\nwarn_before = \"4s\"\n");
  grant(targetPort_, "127.0.0.1", "6s");
  auto r = ssh("sleep 20");
  EXPECT_EQ(r.exitCode, 255);
  EXPECT_NE(r.err.find("jitgate: access to vm1 ends at"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("(window expired)"), std::string::npos) << r.err;
}

TEST_F(SshBastionTest, ASlowClientBeforeAuthenticationBlocksNoOne) {
  grant(targetPort_);
  // Connected, says nothing.
  int silent = connectTcp(bastionPort_);
  ASSERT_GE(silent, 0);
  // Half a version line.
  int half = connectTcp(bastionPort_);
  ASSERT_GE(half, 0);
  ASSERT_EQ(::send(half, "SSH-2.0-", 8, 0), 8);
  auto r = ssh("echo still-served");
  EXPECT_EQ(r.out, "still-served\n") << r.err;
  ::close(silent);
  ::close(half);
}

RunResult probe(int port, const std::string& key, const std::string& mode, const std::string& user,
                const std::string& scratch) {
  std::vector<std::string> argv{"/usr/bin/python3",
                                JITGATE_SOURCE_DIR "/tests/e2e/ssh_protocol_probe.py",
                                std::to_string(port), key, mode};
  if (!user.empty()) argv.push_back(user);
  return testing::run(argv, scratch);
}

class SshBastionProtocolTest : public SshBastionTest {
 protected:
  void SetUp() override {
    SshBastionTest::SetUp();
    if (HasFatalFailure() || IsSkipped()) return;
    if (testing::run({"/usr/bin/python3", "-c", "import paramiko"}, dir_.path()).exitCode != 0)
      GTEST_SKIP() << "python3-paramiko is not installed (scripts/setup-deps.sh installs it)";
  }
  RunResult probe(const std::string& mode, const std::string& user = "") {
    return jitgate::probe(bastionPort_, dir_ / "id", mode, user, dir_.path());
  }
};

TEST_F(SshBastionProtocolTest, AClientClaimingSuccessItselfIsDisconnected) {
  grant(targetPort_);
  auto r = probe("userauth-success");
  EXPECT_EQ(r.out, "disconnected\n") << r.err << daemon_->log();
}

TEST_F(SshBastionProtocolTest, AChannelBeforeAuthenticationIsDisconnected) {
  grant(targetPort_);
  auto r = probe("channel-before-auth");
  EXPECT_EQ(r.out, "disconnected\n") << r.err << daemon_->log();
}

TEST_F(SshBastionProtocolTest, MalformedUserNamesAreRefusedWithTheReason) {
  grant(targetPort_);
  // The registered key is the user's: only the name is wrong.
  for (const std::string& name : {user_->name() + "\\x1b[31m@vm1", user_->name() + "@vm1\\n",
                                  std::string(200, 'a') + "@vm1", user_->name() + "@vm1@x"}) {
    auto r = probe("login", name);
    EXPECT_NE(r.out.find("refused"), std::string::npos) << name << ": " << r.out << r.err;
  }
  auto a = audit();
  EXPECT_NE(a.find("reason=malformed_user"), std::string::npos) << a;
  EXPECT_NE(a.find("control character"), std::string::npos) << a;
  EXPECT_NE(a.find("longer than"), std::string::npos) << a;
  // The real name still works.
  EXPECT_EQ(probe("login", user_->name() + "@vm1").out, "authenticated\n");
}

TEST_F(SshBastionProtocolTest, ANulInTheUserNameNeverAuthenticates) {
  // libssh drops such a request before it reaches us: the client gets no
  // answer and the connection ends at login_grace_time.
  restartWithConfig("[ssh]\nlogin_grace_time = \"2s\"\n");
  grant(targetPort_);
  auto r = probe("login", user_->name() + "\\x00@vm1");
  EXPECT_NE(r.out.find("refused"), std::string::npos) << r.out << r.err;
  EXPECT_NE(audit().find("reason=login_grace_time"), std::string::npos);
}

TEST_F(SshBastionProtocolTest, X11ForwardingIsRefused) {
  grant(targetPort_);
  auto r = probe("x11", user_->name() + "@vm1");
  EXPECT_EQ(r.out, "x11-refused\n") << r.err;
}

// libssh as a client that first offers one user's key, then signs with
// another's: identity must come from the key that signed.
TEST_F(SshBastionTest, AKeyOfferedByOneUserButSignedByAnotherDoesNotPass) {
  grant(targetPort_);
  ASSERT_EQ(
      testing::run({testing::kSshKeygenPath, "-q", "-t", "ed25519", "-N", "", "-f", dir_ / "bob"},
                   dir_.path())
          .exitCode,
      0);
  ASSERT_EQ(jitctl({"user", "add", "bob", "--key", dir_ / "bob.pub"}).exitCode, 0);
  auto attempt = [&](const std::string& user, const std::string& offered,
                     const std::string& signer) {
    ssh_session s = ssh_new();
    int port = bastionPort_;
    int zero = 0;
    ssh_options_set(s, SSH_OPTIONS_HOST, "127.0.0.1");
    ssh_options_set(s, SSH_OPTIONS_PORT, &port);
    ssh_options_set(s, SSH_OPTIONS_USER, user.c_str());
    ssh_options_set(s, SSH_OPTIONS_PROCESS_CONFIG, &zero);
    int result = -100, offer = -100;
    if (ssh_connect(s) == SSH_OK) {
      ssh_key pub = nullptr, priv = nullptr;
      ssh_pki_import_pubkey_file((offered + ".pub").c_str(), &pub);
      ssh_pki_import_privkey_file(signer.c_str(), nullptr, nullptr, nullptr, &priv);
      offer = ssh_userauth_try_publickey(s, nullptr, pub);
      result = ssh_userauth_publickey(s, nullptr, priv);
      ssh_key_free(pub);
      ssh_key_free(priv);
      ssh_disconnect(s);
    }
    ssh_free(s);
    return std::make_pair(offer, result);
  };
  std::string me = user_->name() + "@vm1";
  // Offered and signed by the user's own key: in.
  auto own = attempt(me, dir_ / "id", dir_ / "id");
  EXPECT_EQ(own.first, SSH_AUTH_SUCCESS);
  EXPECT_EQ(own.second, SSH_AUTH_SUCCESS);
  // The user's key offered (and found acceptable), bob's key signing: out.
  auto swapped = attempt(me, dir_ / "id", dir_ / "bob");
  EXPECT_EQ(swapped.first, SSH_AUTH_SUCCESS);
  EXPECT_NE(swapped.second, SSH_AUTH_SUCCESS);
  // Bob's key as bob: in, as himself only.
  EXPECT_EQ(attempt("bob", dir_ / "bob", dir_ / "bob").second, SSH_AUTH_SUCCESS);
  auto a = audit();
  EXPECT_NE(a.find("is not registered to " + user_->name()), std::string::npos) << a;
}

}  // namespace
}  // namespace jitgate
