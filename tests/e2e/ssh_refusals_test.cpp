// SSH bastion refusals end to end: each refusal with its reason in the audit
// log and what the client is told, and nothing reaching the target.
#include "ssh_bastion_fixture.hpp"

namespace jitgate {
namespace {

using testing::RunResult;
using namespace std::chrono_literals;

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
  auto config = keyAndConfig("other");
  auto r = testing::run({testing::kSshPath, "-F", config, "-p", std::to_string(bastionPort_),
                         user_->name() + "@vm1@127.0.0.1", "true"},
                        dir_.path());
  EXPECT_EQ(r.exitCode, 255);
  EXPECT_NE(r.err.find("Permission denied"), std::string::npos) << r.err;
  EXPECT_NE(audit().find("reason=authentication_failed"), std::string::npos);
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

// The hop's own failures, each with its reason: nothing listening at the
// target's port, a user the target does not know, a host key that is not the
// one recorded.
TEST_F(SshBastionTest, HopFailuresAreRefusedWithTheirReason) {
  std::string closed = std::to_string(testing::pickFreeLoopbackPort());
  ASSERT_EQ(jitctl({"target", "add", "vm2", "--address", "127.0.0.1", "--os", "linux", "--ssh-port",
                    closed})
                .exitCode,
            0);
  ASSERT_EQ(jitctl({"policy", "enable", "vm2", "--port", closed}).exitCode, 0);
  out({"grant", user_->name(), "vm2", "--port", closed, "--from", "127.0.0.1", "--for", "30m"});
  auto a = sshArgs();
  a.back() = user_->name() + "@vm2@127.0.0.1";
  a.push_back("true");
  auto r = testing::run(a, dir_.path());
  EXPECT_EQ(r.exitCode, 255);
  EXPECT_NE(r.err.find("jitgate: cannot open vm2: cannot connect to the target"), std::string::npos)
      << r.err;
  EXPECT_TRUE(waitAudit("reason=target_unreachable")) << audit();

  // A bastion user with a grant, but no account on the target.
  auto config = keyAndConfig("stranger");
  ASSERT_EQ(jitctl({"user", "add", "jgstranger", "--key", dir_ / "stranger.pub"}).exitCode, 0);
  out({"grant", "jgstranger", "vm1", "--port", targetPort_, "--from", "127.0.0.1", "--for", "30m"});
  // (A new user's key is known to the front within two seconds.)
  for (int i = 0; i < 10; ++i) {
    r = testing::run({testing::kSshPath, "-F", config, "-p", std::to_string(bastionPort_),
                      "jgstranger@vm1@127.0.0.1", "true"},
                     dir_.path());
    if (r.err.find("Permission denied") == std::string::npos) break;
    std::this_thread::sleep_for(500ms);
  }
  EXPECT_EQ(r.exitCode, 255);
  EXPECT_NE(r.err.find("did not accept the bastion's certificate for jgstranger"),
            std::string::npos)
      << r.err;
  EXPECT_TRUE(waitAudit("reason=target_refused_certificate")) << audit();

  // The target's host key as recorded is another key than it presents.
  keyAndConfig("impostor");
  auto impostor = testing::slurp(dir_ / "impostor.pub");
  impostor = impostor.substr(0, impostor.find(' ', impostor.find(' ') + 1));
  std::ofstream(dir_ / "state/known_hosts")
      << "[127.0.0.1]:" << targetPort_ << " " << impostor << "\n";
  grant(targetPort_);
  r = ssh("echo should-not-run");
  EXPECT_EQ(r.exitCode, 255);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("does not match the one recorded"), std::string::npos) << r.err;
  EXPECT_TRUE(waitAudit("reason=target_hostkey_mismatch")) << audit();
}

TEST_F(SshBastionTest, TooManySignedAttemptsEndTheConnection) {
  grant(targetPort_);
  keyAndConfig("other");
  LibsshClient c(bastionPort_, user_->name() + "@vm1");
  ASSERT_TRUE(c.connect());
  int denied = 0;
  for (int i = 0; i < 7; ++i)
    if (c.authenticate(dir_ / "other") == SSH_AUTH_DENIED) ++denied;
  EXPECT_GE(denied, 6);  // the seventh ends the connection
  EXPECT_FALSE(ssh_is_connected(c.s) && c.authenticate(dir_ / "id") == SSH_AUTH_SUCCESS);
  EXPECT_TRUE(waitAudit("reason=too_many_attempts")) << audit();
}

// Forwarding: only in a USER login, to ports in range, 64 channels at most.
TEST_F(SshBastionTest, ForwardedChannelsHaveTheirLimits) {
  // A terminating login asks for a forward (ssh -W in a USER@TARGET login).
  grant(targetPort_);
  auto r = ssh("true", {"-W", "vm1:" + targetPort_});
  EXPECT_NE(r.exitCode, 0);
  EXPECT_TRUE(waitAudit("reason=forward_in_terminating_session")) << audit();

  // A service on the target that takes connections and never answers.
  int holder = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(holder, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::bind(holder, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(holder, 256), 0);
  ASSERT_EQ(::getsockname(holder, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  std::string held = std::to_string(ntohs(addr.sin_port));
  ASSERT_EQ(jitctl({"policy", "enable", "vm1", "--port", targetPort_, "--port", held}).exitCode, 0);
  grant(held);

  LibsshClient c(bastionPort_, user_->name());
  ASSERT_TRUE(c.connect());
  ASSERT_EQ(c.authenticate(dir_ / "id"), SSH_AUTH_SUCCESS);
  EXPECT_EQ(c.forward("vm1", 0, 40000), nullptr);
  EXPECT_TRUE(waitAudit("reason=bad_port")) << audit();
  int opened = 0;
  for (int i = 0; i < 64; ++i)
    if (c.forward("vm1", std::stoi(held), 40001 + i)) ++opened;
  EXPECT_EQ(opened, 64);
  EXPECT_EQ(c.forward("vm1", std::stoi(held), 40100), nullptr);
  EXPECT_TRUE(waitAudit("reason=too_many_channels")) << audit();
  ::close(holder);
}

}  // namespace
}  // namespace jitgate
