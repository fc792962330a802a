// pywinrm's winrm.Session through the bastion: Session keeps no path but
// /wsman, so it cannot name the target in the path; a listener of the
// target's own ([winrm.http_target_listen], [winrm.https_target_listen])
// names it instead, with Basic, NTLM and TLS, and the grant is checked as on
// the front's own port.
#include "winrm_fixture.hpp"

namespace jitgate {
namespace {

const std::string kSessionClient = std::string(WINRM_TEST_DIR) + "/winrm_session_client.py";

class WinrmSessionTest : public WinrmTest {
 protected:
  // The port of `target`'s own listener on `front`, from the daemon's log.
  int ownPort(const std::string& front, const std::string& target) {
    std::smatch m;
    std::string log = daemon_->log();
    std::regex line(front + ": " + target + " has a listener of its own on 127\\.0\\.0\\.1:(\\d+)");
    return std::regex_search(log, m, line) ? std::stoi(m[1]) : 0;
  }
  testing::RunResult session(const std::string& url, const std::string& transport,
                             const std::string& user, const std::string& command,
                             const std::string& ca = "") {
    std::vector<std::string> argv{kPython,       kSessionClient, "--url",     url,
                                  "--transport", transport,      "--user",    user,
                                  "--password",  "pw",           "--command", command};
    if (!ca.empty()) argv.insert(argv.end(), {"--ca", ca});
    return client(argv);
  }
};

TEST_F(WinrmSessionTest, SessionReachesTheTargetByItsOwnPort) {
  startStandin();
  startDaemon("[winrm.http_target_listen]\nvm1 = \"127.0.0.1:0\"\n");
  int own = ownPort("winrm-http", "vm1");
  ASSERT_GT(own, 0) << daemon_->log();
  addTarget();
  grant("alice", standin_->port());
  auto r = session("http://127.0.0.1:" + std::to_string(own) + "/wsman", "plaintext", "alice",
                   "echo over a session");
  ASSERT_EQ(r.exitCode, 0) << r.err << daemon_->log();
  EXPECT_EQ(r.out, "over a session\r\n");
  auto reqs = standin_->requests();
  ASSERT_EQ(reqs.size(), 5u);
  for (const auto& q : reqs) {
    EXPECT_NE(q.find("\"path\": \"/wsman\""), std::string::npos) << q;
    EXPECT_NE(q.find("\"user\": \"alice\""), std::string::npos) << q;
  }
  ASSERT_TRUE(waitAudit("front=winrm-http reason=client_closed")) << audit();
}

TEST_F(WinrmSessionTest, OnTheFrontsOwnPortSessionCannotNameTheTarget) {
  // The problem the own port solves: Session keeps no path but /wsman, so
  // /vm1/wsman becomes /, and the refusal says why.
  startStandin();
  startDaemon();
  addTarget();
  grant("alice", standin_->port());
  auto r = session(httpUrl(), "plaintext", "alice", "echo hi");
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("Session endpoint: http://127.0.0.1:" + std::to_string(httpPort_) + "/\n"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("jitgate: name the target in the path: /TARGET/wsman"), std::string::npos)
      << r.err;
  EXPECT_TRUE(standin_->requests().empty());
}

TEST_F(WinrmSessionTest, NtlmOverTheOwnPortReachesTheTargetUnchanged) {
  startStandin({.auth = "ntlm", .env = {legacyEnv_}});
  startDaemon("[winrm.http_target_listen]\nvm1 = \"127.0.0.1:0\"\n");
  int own = ownPort("winrm-http", "vm1");
  ASSERT_GT(own, 0) << daemon_->log();
  addTarget();
  grant("alice", standin_->port());
  auto r = session("http://127.0.0.1:" + std::to_string(own) + "/wsman", "ntlm", "alice",
                   "echo ntlm session");
  ASSERT_EQ(r.exitCode, 0) << r.err << daemon_->log();
  EXPECT_EQ(r.out, "ntlm session\r\n");
}

TEST_F(WinrmSessionTest, HttpsSessionByTheOwnPortOfTheHttpsFront) {
  makeStandinCertificate();
  startStandin({.tlsCert = dir_ / "standin.crt", .tlsKey = dir_ / "standin.key"});
  startDaemon("upstream_ca_file = \"" + (dir_ / "standin.crt") +
              "\"\n[winrm.https_target_listen]\nvm1 = \"127.0.0.1:0\"\n");
  int own = ownPort("winrm-https", "vm1");
  ASSERT_GT(own, 0) << daemon_->log();
  EXPECT_EQ(ownPort("winrm-http", "vm1"), 0) << "only the HTTPS front has one";
  addTarget();
  grant("alice", standin_->port());
  auto r = session("https://127.0.0.1:" + std::to_string(own) + "/wsman", "ssl", "alice",
                   "echo tls session", dir_ / "state/winrm/tls.crt");
  ASSERT_EQ(r.exitCode, 0) << r.err << daemon_->log();
  EXPECT_EQ(r.out, "tls session\r\n");
  ASSERT_TRUE(waitAudit("front=winrm-https reason=client_closed")) << audit();
}

TEST_F(WinrmSessionTest, TheOwnPortStillNeedsAGrantForThatTarget) {
  startStandin();
  startDaemon("[winrm.http_target_listen]\nvm1 = \"127.0.0.1:0\"\n");
  int own = ownPort("winrm-http", "vm1");
  ASSERT_GT(own, 0) << daemon_->log();
  addTarget();
  grant("alice", standin_->port());
  auto r =
      session("http://127.0.0.1:" + std::to_string(own) + "/wsman", "plaintext", "bob", "echo hi");
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("bob holds no active grant on vm1"), std::string::npos) << r.err;
  EXPECT_TRUE(standin_->requests().empty());
}

TEST_F(WinrmSessionTest, AnOwnPortForATargetNotEnrolledRefusesWithTheName) {
  startStandin();
  startDaemon("[winrm.http_target_listen]\nghost = \"127.0.0.1:0\"\n");
  int own = ownPort("winrm-http", "ghost");
  ASSERT_GT(own, 0) << daemon_->log();
  addTarget();
  grant("alice", standin_->port());
  auto r = session("http://127.0.0.1:" + std::to_string(own) + "/wsman", "plaintext", "alice",
                   "echo hi");
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_TRUE(standin_->requests().empty());
  ASSERT_TRUE(waitAudit("no target named 'ghost'")) << audit();
}

TEST_F(WinrmSessionTest, AnOwnPortThatCannotBeBoundStopsTheStartWithItsName) {
  int taken = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(taken, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  ASSERT_EQ(::listen(taken, 1), 0);
  socklen_t len = sizeof sa;
  ::getsockname(taken, reinterpret_cast<sockaddr*>(&sa), &len);
  std::string port = std::to_string(ntohs(sa.sin_port));
  std::ofstream(dir_ / "jitgated.toml")
      << "[winrm.http_target_listen]\nvm1 = \"127.0.0.1:" << port << "\"\n";
  auto r = testing::run(
      {JITGATED_BIN, "--state-dir", dir_ / "state", "--control-socket", socket_, "--ssh-listen",
       "off", "--winrm-http-listen", "127.0.0.1:0", "--winrm-https-listen", "off",
       "--metrics-listen", "off", "--config", dir_ / "jitgated.toml"},
      dir_.path());
  ::close(taken);
  EXPECT_NE(r.exitCode, 0);
  EXPECT_NE((r.out + r.err).find("winrm.http_target_listen.vm1"), std::string::npos)
      << r.out << r.err;
}

}  // namespace
}  // namespace jitgate
