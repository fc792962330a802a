// The WinRM front's identities and limits end to end: a domain-qualified
// name rides no grant unless its domain is accepted, a connection is
// connected only once the target accepted the credentials, one host's idle
// connections do not lock another host out, and a flood of refusals before
// authentication costs a bounded number of audit rows and loses none.
#include <poll.h>

#include <boost/json.hpp>
#include <thread>

#include "winrm_fixture.hpp"

namespace jitgate {
namespace {

namespace json = boost::json;

// A TCP connection from `from` (a loopback address) to 127.0.0.1:port.
int connectFrom(const char* from, int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in local{};
  local.sin_family = AF_INET;
  ::inet_pton(AF_INET, from, &local.sin_addr);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0 ||
      ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Whether the peer closes `fd` within `limit`.
bool closedByPeer(int fd, std::chrono::milliseconds limit) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(limit.count())) <= 0) return false;
  char c;
  return ::recv(fd, &c, 1, MSG_DONTWAIT) == 0;
}

class WinrmLimitsTest : public WinrmTest {
 protected:
  json::array auditEntries() {
    auto r = jitctl({"--json", "audit"});
    EXPECT_EQ(r.exitCode, 0) << r.err;
    return json::parse(r.out).as_array();
  }
  int countAudit(const std::string& action, const std::string& part) {
    int n = 0;
    for (const auto& e : auditEntries())
      if (e.at("action").as_string() == action &&
          std::string(e.at("detail").as_string()).find(part) != std::string::npos)
        ++n;
    return n;
  }
};

TEST_F(WinrmLimitsTest, ADomainQualifiedNameRidesNoGrantUnlessItsDomainIsAccepted) {
  startStandin();
  startDaemon();
  addTarget();
  grant("alice", standin_->port());
  for (const char* who : {"OTHER\\alice", "alice@other.example"}) {
    auto r = client(clientArgs(httpUrl(), "plaintext", who, "echo hi"));
    EXPECT_EQ(r.exitCode, 1) << who;
    EXPECT_NE(r.err.find("403"), std::string::npos) << r.err;
  }
  EXPECT_TRUE(standin_->requests().empty()) << "nothing reached the target";
  EXPECT_EQ(countAudit("session.refused",
                       "reason=account_domain: the credentials name the "
                       "domain 'OTHER', and no domain is accepted"),
            1)
      << audit();
  EXPECT_EQ(countAudit("session.refused", "domain 'other.example'"), 1) << audit();
  // The bare name still works.
  auto ok = client(clientArgs(httpUrl(), "plaintext", "alice", "echo bare"));
  EXPECT_EQ(ok.exitCode, 0) << ok.err;
}

TEST_F(WinrmLimitsTest, AnAcceptedDomainPassesButIsConnectedOnlyOnceTheTargetAccepts) {
  startStandin();  // accepts alice:pw only: "CORP\alice" is refused by the target
  startDaemon("account_domains = [\"CORP\"]\n");
  addTarget();
  grant("alice", standin_->port());
  auto r = client(clientArgs(httpUrl(), "plaintext", "corp\\alice", "echo hi"));
  EXPECT_EQ(r.exitCode, 1);
  ASSERT_TRUE(standin_->waitFor("\"status\": 401")) << "the bastion let it through to the target";
  ASSERT_TRUE(waitAudit("target_refused_credentials")) << audit();
  EXPECT_EQ(countAudit("session.connect", ""), 0) << "never connected: " << audit();
  EXPECT_EQ(countAudit("session.disconnect", ""), 0) << audit();
  EXPECT_EQ(countAudit("session.refused",
                       "reason=target_refused_credentials: the target answered "
                       "401 to alice's credentials"),
            1)
      << audit();
  // The right credentials: connected, once, after the target said yes.
  auto ok = client(clientArgs(httpUrl(), "plaintext", "alice", "echo yes"));
  EXPECT_EQ(ok.exitCode, 0) << ok.err;
  ASSERT_TRUE(waitAudit("session.disconnect")) << audit();
  EXPECT_EQ(countAudit("session.connect", ""), 1) << audit();
}

TEST_F(WinrmLimitsTest, ASessionCutBeforeTheTargetAnswersWasNeverConnected) {
  startStandin();
  startDaemon();
  // vm2: a target that accepts the connection and never answers.
  int silent = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sa;
  ASSERT_EQ(::bind(silent, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  ASSERT_EQ(::listen(silent, 4), 0);
  ASSERT_EQ(::getsockname(silent, reinterpret_cast<sockaddr*>(&sa), &len), 0);
  std::string port = std::to_string(ntohs(sa.sin_port));
  ASSERT_EQ(jitctl({"target", "add", "vm2", "--address", "127.0.0.1", "--os", "windows",
                    "--winrm-http-port", port, "--winrm-https-port", port})
                .exitCode,
            0);
  ASSERT_EQ(jitctl({"policy", "enable", "vm2", "--port", port}).exitCode, 0);
  auto granted =
      jitctl({"grant", "alice", "vm2", "--port", port, "--from", "127.0.0.1", "--for", "30m"});
  ASSERT_EQ(granted.exitCode, 0);
  std::string grantId = granted.out.substr(0, granted.out.find('\n'));
  int fd = connectFrom("127.0.0.1", httpPort_);
  ASSERT_GE(fd, 0);
  std::string req =
      "POST /vm2/wsman HTTP/1.1\r\nHost: bastion\r\nAuthorization: " + basicAuth("alice") +
      "\r\nContent-Length: 0\r\n\r\n";
  ASSERT_EQ(::send(fd, req.data(), req.size(), MSG_NOSIGNAL), static_cast<ssize_t>(req.size()));
  // The bastion forwards it (the grant admits alice), and the target is silent.
  pollfd p{silent, POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 5000), 1) << "the request never reached vm2";
  int upstream = ::accept(silent, nullptr, nullptr);
  ASSERT_GE(upstream, 0);
  pollfd q{upstream, POLLIN, 0};
  EXPECT_EQ(::poll(&q, 1, 5000), 1);
  // The grant goes before the target answers (the front does not read the
  // client while a request is at the target: a client that leaves is seen
  // at the response timeout, as target_unreachable).
  ASSERT_EQ(jitctl({"revoke", grantId}).exitCode, 0);
  EXPECT_TRUE(closedByPeer(fd, 5000ms)) << "cut at the revoke";
  ::close(fd);
  EXPECT_TRUE(
      waitAudit("reason=ended_before_connected: ended before the target accepted the "
                "credentials: revoked"))
      << audit();
  EXPECT_EQ(countAudit("session.connect", ""), 0) << audit();
  ::close(upstream);
  ::close(silent);
}

TEST_F(WinrmLimitsTest, OneHostHoldingConnectionsDoesNotStopAnother) {
  startStandin();
  startDaemon("max_per_source = 4\n");
  addTarget();
  grant("alice", standin_->port());
  std::vector<int> held;
  for (int i = 0; i < 4; ++i) {
    int fd = connectFrom("127.0.0.2", httpPort_);
    ASSERT_GE(fd, 0);
    held.push_back(fd);
  }
  // The fifth from that host is closed at once, and the refusal audited.
  int fifth = connectFrom("127.0.0.2", httpPort_);
  ASSERT_GE(fifth, 0);
  EXPECT_TRUE(closedByPeer(fifth, 5000ms));
  ::close(fifth);
  for (int fd : held) EXPECT_FALSE(closedByPeer(fd, 10ms)) << "the first four stay";
  // Another host (127.0.0.1) is served.
  auto r = client(clientArgs(httpUrl(), "plaintext", "alice", "echo still served"));
  EXPECT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out, "still served\r\n");
  for (int fd : held) ::close(fd);
  ASSERT_TRUE(waitAudit("winrm.max_per_source")) << audit();
  EXPECT_EQ(countAudit("session.refused",
                       "reason=connection_limit: 4 connections from 127.0.0.2 are open, the limit "
                       "for one address (winrm.max_per_source)"),
            1)
      << audit();
}

TEST_F(WinrmLimitsTest, AThousandRefusalsBeforeAuthenticationCostABoundedAudit) {
  startStandin();
  startDaemon();
  addTarget();
  grant("alice", standin_->port());
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 1000; ++i) {
    auto reply = rawExchange(httpPort_, request("Content-Length: 0\r\n", "", "bob"));
    ASSERT_EQ(reply.rfind("HTTP/1.1 403", 0), 0u) << reply.substr(0, 200);
  }
  auto seconds =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - start)
          .count();
  std::this_thread::sleep_for(1500ms);  // the summary, a second after the last
  int oneByOne = 0, summaries = 0, summarized = 0;
  for (const auto& e : auditEntries()) {
    if (e.at("action").as_string() != "session.refused") continue;
    std::string detail(e.at("detail").as_string());
    if (detail.find("reason=no_grant: bob holds no active grant") != std::string::npos &&
        detail.find("not recorded one by one") == std::string::npos) {
      ++oneByOne;
    } else if (auto at = detail.find(" pre-authentication refusals not recorded one by one");
               at != std::string::npos) {
      ++summaries;
      summarized += std::stoi(detail.substr(0, at));
      EXPECT_NE(detail.find("reason=no_grant"), std::string::npos) << detail;
      EXPECT_NE(detail.find("from 127.0.0.1"), std::string::npos) << detail;
    }
  }
  EXPECT_EQ(summaries, 1);
  EXPECT_LE(oneByOne, 20 * (seconds + 1)) << "at most 20 a second one by one";
  EXPECT_EQ(oneByOne + summarized, 1000) << "none lost";
  EXPECT_TRUE(standin_->requests().empty());
}

}  // namespace
}  // namespace jitgate
