// The SSH bastion end to end: the real OpenSSH client, jitgated's SSH front,
// and a real sshd on 127.0.0.1 trusting jitgate's CA as the target.
#include "ssh_bastion_fixture.hpp"

namespace jitgate {
namespace {

using testing::RunResult;
using namespace std::chrono_literals;

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
  EXPECT_NE(r.err.find("agent forwarding (ssh -A) is not offered"), std::string::npos) << r.err;
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
  // The command's 20 MB of NULs is recorded (docs/RECORDINGS.md): 120 MB of
  // asciicast, past the default size cap.
  restartWithConfig("[recordings]\nmax_size = \"256M\"\n");
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
  // cat /dev/zero without end: recorded, it would meet the size cap first.
  restartWithConfig("[recordings]\nrecord = \"off\"\n");
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

}  // namespace
}  // namespace jitgate
