// The fixture of the pam_jitgate.so tests (pam_module_test.cpp,
// pam_online_test.cpp): a CA, certificates for one login, a PAM service file
// of the test's own and the real libpam to run it (pam_start_confdir).
#pragma once

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

namespace jitgate::pamtest {

using namespace std::chrono_literals;
using testing::PamHandle;
using testing::TempDir;

inline constexpr const char* kUser = "alice";
inline constexpr const char* kService = "jitgate-test";
inline constexpr uint64_t kSerial = 4242;

inline double wallSeconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

inline ::testing::AssertionResult contains(const std::string& text, const std::string& needle) {
  if (text.find(needle) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "no \"" << needle << "\" in \"" << text << "\"";
}

inline std::vector<std::string> splitArgs(const std::string& args) {
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

}  // namespace jitgate::pamtest
