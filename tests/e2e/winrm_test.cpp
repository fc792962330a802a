// The WinRM front end to end: the real pywinrm client (/usr/bin/python3)
// through jitgated to a WS-Man stand-in (tests/e2e/wsman_standin.py) on
// 127.0.0.1, which records what reached it. Raw sockets for the requests no
// real client sends (smuggling, oversized headers).
#include "winrm_fixture.hpp"

namespace jitgate {
namespace {

TEST_F(WinrmTest, PlaintextBasicRunsACommandThroughTheFront) {
  startStandin();
  startDaemon();
  addTarget();
  grant("alice", standin_->port());
  auto r = client(clientArgs(httpUrl(), "plaintext", "alice", "echo through jitgate"));
  ASSERT_EQ(r.exitCode, 0) << r.err << daemon_->log();
  EXPECT_EQ(r.out, "through jitgate\r\n");
  auto reqs = standin_->requests();
  ASSERT_EQ(reqs.size(), 5u);
  const char* actions[] = {"Create", "Command", "Receive", "Signal", "Delete"};
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_NE(reqs[i].find(std::string("\"action\": \"") + actions[i] + "\""), std::string::npos)
        << reqs[i];
    // Sent upstream as /wsman, Host the target's, the credentials untouched.
    EXPECT_NE(reqs[i].find("\"path\": \"/wsman\""), std::string::npos) << reqs[i];
    EXPECT_NE(reqs[i].find("\"host\": \"127.0.0.1:" + std::to_string(standin_->port())),
              std::string::npos);
    EXPECT_NE(reqs[i].find("\"user\": \"alice\""), std::string::npos) << reqs[i];
    EXPECT_NE(reqs[i].find("\"conn\": 1,"), std::string::npos) << reqs[i];
  }
  ASSERT_TRUE(waitAudit("session.disconnect")) << audit();
  auto log = audit();
  EXPECT_NE(log.find("session.connect"), std::string::npos) << log;
  EXPECT_NE(log.find("front=winrm-http reason=client_closed bytes_to_target="), std::string::npos)
      << log;
}

TEST_F(WinrmTest, NoGrantIsRefusedAndNothingReachesTheTarget) {
  startStandin();
  startDaemon();
  addTarget();
  grant("alice", standin_->port());
  auto r = client(clientArgs(httpUrl(), "plaintext", "bob", "echo hi"));
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("403"), std::string::npos) << r.err;
  EXPECT_TRUE(standin_->requests().empty());
  auto log = audit();
  EXPECT_NE(log.find("session.refused"), std::string::npos) << log;
  EXPECT_NE(log.find("reason=no_grant: bob holds no active grant on vm1"), std::string::npos)
      << log;
  // The reason reaches the client in the body.
  std::string res = rawExchange(httpPort_, request("Content-Length: 0\r\n", "", "bob"));
  EXPECT_EQ(res.rfind("HTTP/1.1 403", 0), 0u) << res;
  EXPECT_NE(res.find("jitgate: bob holds no active grant on vm1"), std::string::npos) << res;
  EXPECT_TRUE(standin_->requests().empty());
}

TEST_F(WinrmTest, WrongSourceIsRefused) {
  startStandin();
  startDaemon();
  addTarget();
  grant("alice", standin_->port(), "10.9.9.9");
  auto r = client(clientArgs(httpUrl(), "plaintext", "alice", "echo hi"));
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_TRUE(standin_->requests().empty());
  EXPECT_NE(audit().find("reason=source_not_allowed"), std::string::npos) << audit();
}

TEST_F(WinrmTest, WrongPortIsRefused) {
  startStandin();
  startDaemon();
  addTarget(5986);
  grant("alice", 5986);  // the HTTPS port only; the HTTP front checks the HTTP port
  auto r = client(clientArgs(httpUrl(), "plaintext", "alice", "echo hi"));
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_TRUE(standin_->requests().empty());
  EXPECT_NE(audit().find("reason=port_not_granted"), std::string::npos) << audit();
}

TEST_F(WinrmTest, UnknownTargetAndMissingCredentials) {
  startStandin();
  startDaemon();
  addTarget();
  grant("alice", standin_->port());
  std::string res =
      rawExchange(httpPort_,
                  "POST /vm9/wsman HTTP/1.1\r\nHost: b\r\nAuthorization: Basic YWxpY2U6cHc=\r\n"
                  "Content-Length: 0\r\n\r\n");
  EXPECT_EQ(res.rfind("HTTP/1.1 403", 0), 0u) << res;
  EXPECT_NE(res.find("no target named 'vm9'"), std::string::npos) << res;
  // No credentials: asked for them (the NTLM handshake starts so).
  res = rawExchange(httpPort_,
                    "POST /vm1/wsman HTTP/1.1\r\nHost: b\r\nContent-Length: 0\r\n"
                    "Connection: close\r\n\r\n");
  EXPECT_EQ(res.rfind("HTTP/1.1 401", 0), 0u) << res;
  EXPECT_NE(res.find("WWW-Authenticate: NTLM"), std::string::npos) << res;
  res = rawExchange(httpPort_,
                    "POST /vm1/wsman HTTP/1.1\r\nHost: b\r\nAuthorization: Kerberos "
                    "YWJj\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(res.rfind("HTTP/1.1 401", 0), 0u) << res;
  EXPECT_NE(res.find("not supported"), std::string::npos) << res;
  EXPECT_TRUE(standin_->requests().empty());
}

TEST_F(WinrmTest, HostNameUnderTheDomainNamesTheTarget) {
  startStandin();
  startDaemon("domain = \"jit.test\"\n");
  addTarget();
  grant("alice", standin_->port());
  std::string res =
      rawExchange(httpPort_,
                  "POST /wsman HTTP/1.1\r\nHost: vm1.jit.test:5985\r\nAuthorization: Basic "
                  "YWxpY2U6cHc=\r\nConnection: close\r\nContent-Length: " +
                      std::to_string(kEnvelope.size()) + "\r\n\r\n" + kEnvelope);
  EXPECT_EQ(res.rfind("HTTP/1.1 200", 0), 0u) << res;
  ASSERT_EQ(standin_->requests().size(), 1u);
  EXPECT_NE(standin_->requests()[0].find("\"path\": \"/wsman\""), std::string::npos);
  EXPECT_NE(standin_->requests()[0].find("\"action\": \"Create\""), std::string::npos);
}

TEST_F(WinrmTest, SmugglingAndMalformedRequestsAreRefusedBeforeAnythingIsForwarded) {
  startStandin();
  startDaemon();
  addTarget();
  grant("alice", standin_->port());
  struct Case {
    const char* name;
    std::string bytes;
    const char* reason;
  } cases[] = {
      {"CL+TE", request("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n"),
       "Transfer-Encoding"},
      {"TE+CL", request("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", "0\r\n\r\n"),
       "Content-Length"},
      {"duplicate CL", request("Content-Length: 5\r\nContent-Length: 5\r\n", "hello"),
       "duplicate Content-Length"},
      {"obs-fold", request("X-A: b\r\n c\r\nContent-Length: 5\r\n", "hello"), "obs-fold"},
      {"bare CR", request("X-A: b\rc\r\nContent-Length: 5\r\n", "hello"), "bare CR"},
      {"bad chunk size", request("Transfer-Encoding: chunked\r\n", "zz\r\nhello\r\n0\r\n\r\n"),
       "invalid chunk"},
      {"TE gzip", request("Transfer-Encoding: gzip, chunked\r\n", "0\r\n\r\n"), "chunked"},
      // Credentials in a trailer would reach the target without being checked.
      {"trailer",
       request("Transfer-Encoding: chunked\r\n",
               "5\r\nhello\r\n0\r\nAuthorization: Basic Ym9iOnB3\r\n\r\n"),
       "trailer"},
  };
  for (const auto& c : cases) {
    bool closed = false;
    std::string res = rawExchange(httpPort_, c.bytes, &closed);
    EXPECT_EQ(res.rfind("HTTP/1.1 400", 0), 0u) << c.name << ": " << res;
    EXPECT_NE(res.find(c.reason), std::string::npos) << c.name << ": " << res;
    EXPECT_TRUE(closed) << c.name;
  }
  EXPECT_TRUE(standin_->requests().empty()) << standin_->requests()[0];
  EXPECT_NE(audit().find("front=winrm-http reason=http: duplicate Content-Length"),
            std::string::npos)
      << audit();
  // A well-formed chunked request passes (re-framed with Content-Length).
  std::string chunked = request(
      "Transfer-Encoding: chunked\r\nConnection: close\r\n",
      "10\r\n" + kEnvelope.substr(0, 16) + "\r\n" +
          [&] {
            char n[16];
            std::snprintf(n, sizeof n, "%zx", kEnvelope.size() - 16);
            return std::string(n);
          }() +
          "\r\n" + kEnvelope.substr(16) + "\r\n0\r\n\r\n");
  std::string ok = rawExchange(httpPort_, chunked);
  EXPECT_EQ(ok.rfind("HTTP/1.1 200", 0), 0u) << ok;
  ASSERT_EQ(standin_->requests().size(), 1u);
  EXPECT_NE(standin_->requests()[0].find("\"body_len\": " + std::to_string(kEnvelope.size())),
            std::string::npos)
      << standin_->requests()[0];
  EXPECT_EQ(standin_->requests()[0].find("transfer-encoding"), std::string::npos);
}

TEST_F(WinrmTest, OneConnectionCarriesOneUserAndOneTarget) {
  startStandin();
  startDaemon();
  addTarget();
  grant("alice", standin_->port());
  grant("bob", standin_->port());
  std::string len = "Content-Length: " + std::to_string(kEnvelope.size()) + "\r\n";
  // Pipelined on one connection: alice's request passes, bob's is refused.
  std::string res =
      rawExchange(httpPort_, request(len, kEnvelope, "alice") + request(len, kEnvelope, "bob"));
  EXPECT_EQ(res.rfind("HTTP/1.1 200", 0), 0u) << res;
  EXPECT_NE(res.find("HTTP/1.1 403"), std::string::npos) << res;
  EXPECT_NE(res.find("this connection belongs to alice"), std::string::npos) << res;
  EXPECT_EQ(standin_->requests().size(), 1u);
  // Another target on the same connection is refused too.
  ASSERT_EQ(jitctl({"target", "add", "vm2", "--address", "127.0.0.1", "--os", "windows",
                    "--winrm-http-port", std::to_string(standin_->port())})
                .exitCode,
            0);
  std::string other = request(len, kEnvelope, "alice");
  other.replace(other.find("/vm1/"), 5, "/vm2/");
  res = rawExchange(httpPort_, request(len, kEnvelope, "alice") + other);
  EXPECT_NE(res.find("HTTP/1.1 400"), std::string::npos) << res;
  EXPECT_NE(res.find("one connection serves one target"), std::string::npos) << res;
  EXPECT_EQ(standin_->requests().size(), 2u);
  auto log = audit();
  EXPECT_NE(log.find("reason=identity: this connection belongs to alice"), std::string::npos)
      << log;
  EXPECT_NE(log.find("reason=routing: one connection serves one target"), std::string::npos) << log;
}

TEST_F(WinrmTest, ExpectContinueIsAnsweredByTheBastionAfterTheGrantCheck) {
  startStandin();
  startDaemon();
  addTarget();
  grant("alice", standin_->port());
  std::string res = rawExchange(
      httpPort_, request("Expect: 100-continue\r\nConnection: close\r\nContent-Length: " +
                             std::to_string(kEnvelope.size()) + "\r\n",
                         kEnvelope));
  EXPECT_EQ(res.rfind("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200", 0), 0u) << res;
  ASSERT_EQ(standin_->requests().size(), 1u);
  EXPECT_EQ(standin_->requests()[0].find("\"expect\""), std::string::npos);
  EXPECT_EQ(standin_->requests()[0].find("\"connection\""), std::string::npos);
  // Without a grant: refused at once, the body never asked for.
  res = rawExchange(httpPort_, request("Expect: 100-continue\r\nContent-Length: 5\r\n", "", "bob"));
  EXPECT_EQ(res.rfind("HTTP/1.1 403", 0), 0u) << res;
  EXPECT_EQ(standin_->requests().size(), 1u);
}

TEST_F(WinrmTest, OversizedHeaderAndBodyAreRefused) {
  startStandin();
  startDaemon("max_header_bytes = 4096\nmax_body_bytes = 65536\n");
  addTarget();
  grant("alice", standin_->port());
  bool closed = false;
  std::string res = rawExchange(
      httpPort_, request("X-Big: " + std::string(8000, 'a') + "\r\nContent-Length: 0\r\n", ""),
      &closed);
  EXPECT_EQ(res.rfind("HTTP/1.1 431", 0), 0u) << res;
  EXPECT_TRUE(closed);
  res = rawExchange(httpPort_, request("Content-Length: 100000\r\n", std::string(100000, 'x')),
                    &closed);
  EXPECT_EQ(res.rfind("HTTP/1.1 413", 0), 0u) << res;
  EXPECT_TRUE(closed);
  EXPECT_TRUE(standin_->requests().empty());
}

TEST_F(WinrmTest, NtlmHandshakeIsPinnedToOneUpstreamConnection) {
  startStandin({.auth = "ntlm", .env = {legacyEnv_}});
  startDaemon("account_domains = [\"CORP\"]\n");  // CORP\alice rides alice's grant
  addTarget();
  grant("alice", standin_->port());
  auto r = client(clientArgs(httpUrl(), "ntlm", "CORP\\alice", "echo over ntlm"));
  ASSERT_EQ(r.exitCode, 0) << r.err << daemon_->log();
  EXPECT_EQ(r.out, "over ntlm\r\n");
  auto reqs = standin_->requests();
  ASSERT_GE(reqs.size(), 6u);
  // NEGOTIATE (without the body), AUTHENTICATE (with it), then requests that
  // carry no credentials, all on one upstream connection.
  EXPECT_NE(reqs[0].find("\"auth\": \"NTLM\""), std::string::npos) << reqs[0];
  EXPECT_NE(reqs[0].find("\"body_len\": 0"), std::string::npos) << reqs[0];
  EXPECT_NE(reqs[0].find("\"status\": 401"), std::string::npos) << reqs[0];
  EXPECT_NE(reqs[1].find("\"user\": \"alice\""), std::string::npos) << reqs[1];
  EXPECT_NE(reqs[1].find("\"action\": \"Create\""), std::string::npos) << reqs[1];
  for (size_t i = 0; i < reqs.size(); ++i) {
    EXPECT_NE(reqs[i].find("\"conn\": 1,"), std::string::npos) << reqs[i];
    if (i >= 2) {
      EXPECT_NE(reqs[i].find("\"auth\": \"\""), std::string::npos) << reqs[i];
    }
    if (i >= 1) {
      EXPECT_NE(reqs[i].find("\"status\": 200"), std::string::npos) << reqs[i];
    }
  }
  // The NEGOTIATE leg, relayed before alice was named, is in the audit, then
  // the connection once the target accepted the AUTHENTICATE leg.
  ASSERT_TRUE(waitAudit("session.disconnect")) << audit();
  auto log = audit();
  auto leg = log.find("session.ntlm_negotiate");
  auto connect = log.find("session.connect");
  EXPECT_NE(leg, std::string::npos) << log;
  EXPECT_NE(log.find("NTLM NEGOTIATE relayed before the user is named"), std::string::npos) << log;
  EXPECT_LT(leg, connect) << log;
}

TEST_F(WinrmTest, NtlmWithoutAnyGrantNeverReachesTheTarget) {
  startStandin({.auth = "ntlm", .env = {legacyEnv_}});
  startDaemon();
  addTarget();
  auto r = client(clientArgs(httpUrl(), "ntlm", "alice", "echo hi"));
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_TRUE(standin_->requests().empty());
  // With a grant for bob only, alice's AUTHENTICATE is refused: the
  // NEGOTIATE leg went through (headers only), no credentials or body did.
  grant("bob", standin_->port());
  r = client(clientArgs(httpUrl(), "ntlm", "alice", "echo hi"));
  EXPECT_EQ(r.exitCode, 1);
  auto reqs = standin_->requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_NE(reqs[0].find("\"body_len\": 0"), std::string::npos) << reqs[0];
  EXPECT_NE(audit().find("alice holds no active grant on vm1"), std::string::npos) << audit();
}

class WinrmTlsTest : public WinrmTest {
 protected:
  void SetUp() override {
    WinrmTest::SetUp();
    if (IsSkipped()) return;
    makeStandinCertificate();
  }
  std::string serverCa() { return dir_ / "state/winrm/tls.crt"; }
};

TEST_F(WinrmTlsTest, HttpsBasicToAVerifiedUpstream) {
  startStandin({.tlsCert = dir_ / "standin.crt", .tlsKey = dir_ / "standin.key"});
  startDaemon("upstream_ca_file = \"" + (dir_ / "standin.crt") + "\"\n");
  addTarget();
  grant("alice", standin_->port());
  auto args = clientArgs(httpsUrl(), "ssl", "alice", "echo over tls");
  args.insert(args.end(), {"--ca", serverCa()});
  auto r = client(args);
  ASSERT_EQ(r.exitCode, 0) << r.err << daemon_->log();
  EXPECT_EQ(r.out, "over tls\r\n");
  EXPECT_EQ(standin_->requests().size(), 5u);
  ASSERT_TRUE(waitAudit("front=winrm-https reason=client_closed")) << audit();
}

TEST_F(WinrmTlsTest, UpstreamCertificateNotTrustedIsRefused) {
  startStandin({.tlsCert = dir_ / "standin.crt", .tlsKey = dir_ / "standin.key"});
  startDaemon();  // the system trust store: the stand-in's certificate is not in it
  addTarget();
  grant("alice", standin_->port());
  auto args = clientArgs(httpsUrl(), "ssl", "alice", "echo hi");
  args.insert(args.end(), {"--ca", serverCa()});
  auto r = client(args);
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("502"), std::string::npos) << r.err;
  EXPECT_TRUE(standin_->requests().empty());
}

TEST_F(WinrmTlsTest, ClientCertificateNamesTheUserAndTheBastionPresentsItsOwn) {
  startDaemon("upstream_ca_file = \"" + (dir_ / "standin.crt") + "\"\n");
  auto ca = jitctl({"ca", "export", "--x509"});
  ASSERT_EQ(ca.exitCode, 0) << ca.err;
  std::ofstream(dir_ / "client-ca.pem") << ca.out;
  startStandin({.auth = "certificate",
                .tlsCert = dir_ / "standin.crt",
                .tlsKey = dir_ / "standin.key",
                .clientCa = dir_ / "client-ca.pem"});
  addTarget();
  auto g = grant("alice", standin_->port());
  auto issued = jitctl({"cert", "x509", g, "-o", dir_ / "alice"});
  ASSERT_EQ(issued.exitCode, 0) << issued.err;
  auto args = clientArgs(httpsUrl(), "certificate", "", "echo by certificate");
  args.insert(args.end(),
              {"--cert", dir_ / "alice.crt", "--key", dir_ / "alice.key", "--ca", serverCa()});
  auto r = client(args);
  ASSERT_EQ(r.exitCode, 0) << r.err << daemon_->log() << testing::slurp(dir_ / "standin.log");
  EXPECT_EQ(r.out, "by certificate\r\n");
  auto reqs = standin_->requests();
  ASSERT_EQ(reqs.size(), 5u);
  for (const auto& q : reqs) {
    EXPECT_NE(q.find("\"client_cn\": \"alice\""), std::string::npos) << q;
    EXPECT_NE(q.find("\"auth\": \"http://schemas.dmtf.org/wbem/wsman/1/ws"), std::string::npos)
        << q;
  }
  // The bastion's certificate for the upstream hop is recorded like any other.
  EXPECT_NE(audit().find("jitgated"), std::string::npos);
  // A certificate and credentials naming someone else: refused.
  auto mixed =
      testing::run({"/usr/bin/curl", "-s", "--cacert", serverCa(), "--cert", dir_ / "alice.crt",
                    "--key", dir_ / "alice.key", "-u", "bob:pw", "--data", "x", httpsUrl()},
                   dir_.path());
  EXPECT_NE(mixed.out.find("the credentials name bob but the client certificate names alice"),
            std::string::npos)
      << mixed.out << mixed.err;
  EXPECT_EQ(standin_->requests().size(), 5u);
}

TEST_F(WinrmTlsTest, ExpiredAndForeignClientCertificatesAreRefused) {
  startStandin({.tlsCert = dir_ / "standin.crt", .tlsKey = dir_ / "standin.key"});
  startDaemon("upstream_ca_file = \"" + (dir_ / "standin.crt") + "\"\n");
  addTarget();
  auto g = grant("alice", standin_->port());
  // An expired certificate from jitgate's own CA (its key is in the state dir).
  std::string caKey, caCert = jitctl({"ca", "export", "--x509"}).out;
  for (const auto& e : std::filesystem::directory_iterator(dir_ / "state/ca")) {
    std::string body = testing::slurp(e.path());
    if (body.find("PRIVATE KEY") != std::string::npos && X509Authority::fromPem(body, caCert).ok())
      caKey = body;
  }
  ASSERT_FALSE(caKey.empty());
  auto ours = X509Authority::fromPem(caKey, caCert).value();
  auto now = std::chrono::floor<Seconds>(std::chrono::system_clock::now());
  X509ClientSpec spec{"alice", "", g, "vm1", 4242, now - 2h, now - 1h};
  auto expired = ours.issueClient(spec).value();
  auto foreignCa = X509Authority::create("not jitgate", now).value();
  spec.notBefore = now - 1h;
  spec.notAfter = now + 1h;
  auto foreign = foreignCa.issueClient(spec).value();
  // Valid in every other way, but for another target: a certificate opens
  // only its grant's target.
  spec.target = "vm2";
  spec.serial = 4243;
  auto elsewhere = ours.issueClient(spec).value();
  struct {
    const char* name;
    const X509Issued& cert;
    const char* reason;
  } cases[] = {{"expired", expired, "expired"},
               {"foreign", foreign, "untrusted"},
               {"elsewhere", elsewhere, "wrong_target"}};
  for (const auto& c : cases) {
    std::ofstream(dir_ / (std::string(c.name) + ".crt")) << c.cert.certPem;
    std::ofstream(dir_ / (std::string(c.name) + ".key")) << c.cert.keyPem;
    auto args = clientArgs(httpsUrl(), "certificate", "", "echo hi");
    args.insert(args.end(), {"--cert", dir_ / (std::string(c.name) + ".crt"), "--key",
                             dir_ / (std::string(c.name) + ".key"), "--ca", serverCa()});
    auto r = client(args);
    EXPECT_EQ(r.exitCode, 1) << c.name;
    EXPECT_NE(r.err.find("403"), std::string::npos) << c.name << ": " << r.err;
  }
  EXPECT_TRUE(standin_->requests().empty());
  auto log = audit();
  EXPECT_NE(log.find("reason=certificate: client certificate refused: expired"), std::string::npos)
      << log;
  EXPECT_NE(log.find("client certificate refused: untrusted"), std::string::npos) << log;
  EXPECT_NE(log.find("client certificate refused: wrong_target: it is for target 'vm2', not 'vm1'"),
            std::string::npos)
      << log;
}

// A live session whose Receive is long-polling at the target: the cut must
// close it within the second, not when the target answers (60 s).
class WinrmCutoffTest : public WinrmTest {
 protected:
  // Established TCP connections to the stand-in (the bastion's upstream side).
  int upstreamConnections() {
    auto r = testing::run({"/usr/bin/ss", "-Htn", "state", "established",
                           "( dport = :" + std::to_string(standin_->port()) + " )"},
                          dir_.path());
    int n = 0;
    for (char c : r.out) n += c == '\n';
    return n;
  }
  std::unique_ptr<Child> longPoll() {
    return std::make_unique<Child>(clientArgs(httpUrl(), "plaintext", "alice", "longpoll"),
                                   dir_ / "client.log", std::vector<std::string>{legacyEnv_});
  }
};

TEST_F(WinrmCutoffTest, RevokeCutsALongPollReceive) {
  startStandin();
  startDaemon();
  addTarget();
  auto g = grant("alice", standin_->port());
  auto c = longPoll();
  ASSERT_TRUE(standin_->waitFor("\"action\": \"Receive\"")) << daemon_->log();
  EXPECT_EQ(upstreamConnections(), 1);
  auto revoked = std::chrono::steady_clock::now();
  ASSERT_EQ(jitctl({"revoke", g}).exitCode, 0);
  auto code = c->waitExit(2s);
  ASSERT_TRUE(code.has_value()) << "the client was not cut within 2 s";
  EXPECT_NE(*code, 0);
  EXPECT_LT(std::chrono::steady_clock::now() - revoked, 2s);
  // The upstream connection is closed too, though the target is still
  // holding its Receive.
  EXPECT_EQ(upstreamConnections(), 0);
  ASSERT_TRUE(waitAudit("reason=revoked")) << audit();
  EXPECT_NE(audit().find("session.disconnect"), std::string::npos);
  // And nothing new gets through.
  auto r = client(clientArgs(httpUrl(), "plaintext", "alice", "echo hi"));
  EXPECT_EQ(r.exitCode, 1);
}

TEST_F(WinrmCutoffTest, AnotherGrantKeepsTheSessionUntilItEndsToo) {
  startStandin();
  startDaemon();
  addTarget();
  auto first = grant("alice", standin_->port(), "127.0.0.1", "30m");
  auto second = grant("alice", standin_->port(), "127.0.0.0/8", "20m");
  auto c = longPoll();
  ASSERT_TRUE(standin_->waitFor("\"action\": \"Receive\"")) << daemon_->log();
  // The session was admitted under the grant that ends last; revoking it
  // moves the session to the other one.
  ASSERT_EQ(jitctl({"revoke", first}).exitCode, 0);
  EXPECT_FALSE(c->waitExit(1500ms).has_value()) << "cut although another grant covers it";
  ASSERT_EQ(jitctl({"revoke", second}).exitCode, 0);
  auto code = c->waitExit(2s);
  ASSERT_TRUE(code.has_value()) << "the client was not cut within 2 s";
  ASSERT_TRUE(waitAudit("reason=revoked")) << audit();
  auto log = audit();
  // One connect and one disconnect for the one session.
  size_t connects = 0;
  for (size_t at = 0; (at = log.find("session.connect", at)) != std::string::npos; ++at) ++connects;
  EXPECT_EQ(connects, 1u) << log;
}

TEST_F(WinrmCutoffTest, WindowEndCutsALongPollReceive) {
  startStandin();
  startDaemon();
  addTarget();
  grant("alice", standin_->port(), "127.0.0.1", "4s");
  auto granted = std::chrono::steady_clock::now();
  auto c = longPoll();
  ASSERT_TRUE(standin_->waitFor("\"action\": \"Receive\"")) << daemon_->log();
  auto code = c->waitExit(8s);
  ASSERT_TRUE(code.has_value()) << "the client was not cut";
  EXPECT_NE(*code, 0);
  // The window is 4 s (whole seconds from the grant): cut within 2 s of its end.
  EXPECT_LT(std::chrono::steady_clock::now() - granted, 6s);
  EXPECT_EQ(upstreamConnections(), 0);
  ASSERT_TRUE(waitAudit("reason=expired")) << audit();
}

}  // namespace
}  // namespace jitgate
