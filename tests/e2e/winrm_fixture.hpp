// The WinRM end-to-end fixture: the real pywinrm client (/usr/bin/python3),
// a WS-Man stand-in (tests/e2e/wsman_standin.py, not a WinRM server) that
// records what reached it, the real jitgated and jitctl, and raw sockets.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "../support/process.hpp"
#include "../support/test_support.hpp"
#include "jitgate/x509_ca.hpp"

namespace jitgate {
namespace {

using testing::Daemon;
using testing::TempDir;
using namespace std::chrono_literals;

const std::string kPython = "/usr/bin/python3";
const std::string kStandin = std::string(WINRM_TEST_DIR) + "/wsman_standin.py";
const std::string kClient = std::string(WINRM_TEST_DIR) + "/winrm_client.py";

bool pywinrmAvailable() {
  TempDir d;
  return testing::run({kPython, "-c", "import winrm, requests_ntlm"}, d.path()).exitCode == 0;
}

// A child process stopped (SIGTERM, then SIGKILL) when the object goes.
class Child {
 public:
  Child(const std::vector<std::string>& argv, const std::string& logPath,
        const std::vector<std::string>& env = {}) {
    pid_ = ::fork();
    if (pid_ == 0) {
      int log = ::open(logPath.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      int nul = ::open("/dev/null", O_RDONLY);
      ::dup2(nul, 0);
      ::dup2(log, 1);
      ::dup2(log, 2);
      for (const auto& kv : env) ::putenv(const_cast<char*>(kv.c_str()));
      testing::execOrExplain(argv);
    }
  }
  ~Child() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 100; ++i) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) return;
      std::this_thread::sleep_for(20ms);
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  // The exit code once the child exits within `limit`, else nullopt.
  std::optional<int> waitExit(std::chrono::milliseconds limit) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(10ms);
    }
    return std::nullopt;
  }

 private:
  pid_t pid_ = -1;
};

struct StandinOptions {
  std::string auth = "basic";
  std::string tlsCert, tlsKey, clientCa;
  std::vector<std::string> env;
};

// The WS-Man stand-in, on a port it picks.
class Standin {
 public:
  Standin(const TempDir& dir, const StandinOptions& o) : record_(dir / "standin.jsonl") {
    std::string portFile = dir / "standin.port";
    std::vector<std::string> argv{kPython,    kStandin, "--port-file", portFile,
                                  "--record", record_,  "--auth",      o.auth};
    if (!o.tlsCert.empty())
      argv.insert(argv.end(), {"--tls-cert", o.tlsCert, "--tls-key", o.tlsKey});
    if (!o.clientCa.empty()) argv.insert(argv.end(), {"--client-ca", o.clientCa});
    child_ = std::make_unique<Child>(argv, dir / "standin.log", o.env);
    for (int i = 0; i < 500 && !std::filesystem::exists(portFile); ++i)
      std::this_thread::sleep_for(20ms);
    port_ = std::atoi(testing::slurp(portFile).c_str());
  }
  int port() const { return port_; }
  // One JSON object per request that reached the stand-in.
  std::vector<std::string> requests() const {
    std::vector<std::string> out;
    std::istringstream in(testing::slurp(record_));
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) out.push_back(line);
    return out;
  }
  bool waitFor(const std::string& part, std::chrono::milliseconds limit = 10s) const {
    auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      for (const auto& r : requests())
        if (r.find(part) != std::string::npos) return true;
      std::this_thread::sleep_for(20ms);
    }
    return false;
  }

 private:
  std::string record_;
  std::unique_ptr<Child> child_;
  int port_ = 0;
};

// Sends raw bytes to 127.0.0.1:port and returns everything read until the
// peer closes or 5 s pass; `closed` says whether the peer closed.
[[maybe_unused]] std::string rawExchange(int port, const std::string& bytes,
                                         bool* closed = nullptr) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    ::close(fd);
    return "";
  }
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = ::send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
  std::string out;
  char buf[4096];
  bool eof = false;
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n == 0) eof = true;
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  if (closed) *closed = eof;
  return out;
}

std::string basicAuth(const std::string& user) {
  // base64("USER:pw") for the users the tests use.
  if (user == "alice") return "Basic YWxpY2U6cHc=";
  if (user == "bob") return "Basic Ym9iOnB3";
  return "";
}

const std::string kEnvelope =
    "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" "
    "xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\"><s:Header>"
    "<a:Action>http://schemas.xmlsoap.org/ws/2004/09/transfer/Create</a:Action>"
    "<a:MessageID>uuid:00000000-0000-0000-0000-000000000001</a:MessageID></s:Header>"
    "<s:Body/></s:Envelope>";

class WinrmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!pywinrmAvailable()) GTEST_SKIP() << "/usr/bin/python3 lacks pywinrm (python3-winrm)";
    socket_ = dir_ / "c.sock";
    std::ofstream(dir_ / "ossl.cnf") << "openssl_conf = openssl_init\n[openssl_init]\n"
                                        "providers = provider_sect\n[provider_sect]\n"
                                        "default = default_sect\nlegacy = legacy_sect\n"
                                        "[default_sect]\nactivate = 1\n[legacy_sect]\n"
                                        "activate = 1\n";
    legacyEnv_ = "OPENSSL_CONF=" + (dir_ / "ossl.cnf");
  }

  void TearDown() override {
    if (!daemon_) return;
    // A clean stop; under ASan+UBSan, nothing reported (leaks are reported at exit).
    daemon_->stop();
    std::string log = daemon_->log();
    for (const char* bad : {"AddressSanitizer", "LeakSanitizer", "runtime error:"})
      EXPECT_EQ(log.find(bad), std::string::npos) << log;
  }

  // The stand-in's own TLS certificate (for IP 127.0.0.1), self-signed.
  void makeStandinCertificate() {
    auto r = testing::run(
        {"/usr/bin/openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", dir_ / "standin.key", "-out", dir_ / "standin.crt", "-days", "1",
         "-subj", "/CN=standin", "-addext", "subjectAltName=IP:127.0.0.1"},
        dir_.path());
    ASSERT_EQ(r.exitCode, 0) << r.err;
  }

  void startStandin(StandinOptions o = {}) { standin_ = std::make_unique<Standin>(dir_, o); }

  void startDaemon(const std::string& winrmConfig = "") {
    std::vector<std::string> args{"--state-dir", dir_ / "state", "--control-socket",
                                  socket_,       "--ssh-listen", "off"};
    if (!winrmConfig.empty()) {
      std::ofstream(dir_ / "jitgated.toml") << "[winrm]\n" << winrmConfig;
      args.insert(args.end(), {"--config", dir_ / "jitgated.toml"});
    }
    daemon_ = std::make_unique<Daemon>(JITGATED_BIN, args, dir_ / "daemon.log");
    ASSERT_TRUE(daemon_->waitReady()) << daemon_->log();
    std::smatch m;
    std::string log = daemon_->log();
    ASSERT_TRUE(std::regex_search(log, m, std::regex("winrm-http 127\\.0\\.0\\.1:(\\d+)")));
    httpPort_ = std::stoi(m[1]);
    ASSERT_TRUE(std::regex_search(log, m, std::regex("winrm-https 127\\.0\\.0\\.1:(\\d+)")));
    httpsPort_ = std::stoi(m[1]);
  }

  // vm1 = the stand-in, on both WinRM ports unless told otherwise.
  void addTarget(int httpsPort = 0) {
    std::string sp = std::to_string(standin_->port());
    std::string hp = httpsPort ? std::to_string(httpsPort) : sp;
    ASSERT_EQ(jitctl({"target", "add", "vm1", "--address", "127.0.0.1", "--os", "windows",
                      "--winrm-http-port", sp, "--winrm-https-port", hp})
                  .exitCode,
              0);
    std::vector<std::string> policy{"policy", "enable", "vm1", "--port", sp};
    if (hp != sp) policy.insert(policy.end(), {"--port", hp});
    auto r = jitctl(policy);
    ASSERT_EQ(r.exitCode, 0) << r.err;
  }

  std::string grant(const std::string& user, int port, const std::string& from = "127.0.0.1",
                    const std::string& length = "30m") {
    auto r = jitctl(
        {"grant", user, "vm1", "--port", std::to_string(port), "--from", from, "--for", length});
    EXPECT_EQ(r.exitCode, 0) << r.err;
    while (!r.out.empty() && r.out.back() == '\n') r.out.pop_back();
    return r.out;
  }

  testing::RunResult jitctl(std::vector<std::string> args) {
    args.insert(args.begin(), {JITCTL_BIN, "--socket", socket_});
    return testing::run(args, dir_.path());
  }
  std::string audit() { return jitctl({"audit"}).out; }
  bool waitAudit(const std::string& part, std::chrono::milliseconds limit = 5s) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      if (audit().find(part) != std::string::npos) return true;
      std::this_thread::sleep_for(50ms);
    }
    return false;
  }

  std::vector<std::string> clientArgs(const std::string& endpoint, const std::string& transport,
                                      const std::string& user, const std::string& command) {
    return {kPython,  kClient, "--endpoint", endpoint, "--transport", transport,
            "--user", user,    "--password", "pw",     "--command",   command};
  }
  testing::RunResult client(std::vector<std::string> argv) {
    return testing::run(argv, dir_.path(), std::nullopt, {legacyEnv_});
  }
  std::string httpUrl() { return "http://127.0.0.1:" + std::to_string(httpPort_) + "/vm1/wsman"; }
  std::string httpsUrl() {
    return "https://127.0.0.1:" + std::to_string(httpsPort_) + "/vm1/wsman";
  }
  std::string request(const std::string& extraHeaders, const std::string& body,
                      const std::string& user = "alice") {
    return "POST /vm1/wsman HTTP/1.1\r\nHost: bastion\r\nAuthorization: " + basicAuth(user) +
           "\r\nContent-Type: application/soap+xml;charset=UTF-8\r\n" + extraHeaders + "\r\n" +
           body;
  }

  TempDir dir_;
  std::string socket_;
  std::string legacyEnv_;
  std::unique_ptr<Standin> standin_;
  std::unique_ptr<Daemon> daemon_;
  int httpPort_ = 0, httpsPort_ = 0;
};

}  // namespace
}  // namespace jitgate
