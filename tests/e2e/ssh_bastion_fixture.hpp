// The SSH bastion tests' fixture: jitgated on a temporary state, a real sshd
// on 127.0.0.1 trusting jitgate's CA as target vm1, a Unix user with a key.
#pragma once

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

using testing::Daemon;
using testing::RunResult;
using testing::TempDir;
using namespace std::chrono_literals;

inline int portFromLog(const std::string& log, const std::string& front) {
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

inline int connectTcp(int port) {
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
  // Refusals before authentication are written once the loop is free.
  bool waitAudit(const std::string& part) {
    for (int i = 0; i < 100; ++i) {
      if (audit().find(part) != std::string::npos) return true;
      std::this_thread::sleep_for(50ms);
    }
    return false;
  }
  // A key pair in the test's directory, and an ssh config using only it.
  std::string keyAndConfig(const std::string& name) {
    EXPECT_EQ(
        testing::run({testing::kSshKeygenPath, "-q", "-t", "ed25519", "-N", "", "-f", dir_ / name},
                     dir_.path())
            .exitCode,
        0);
    std::ofstream(dir_ / (name + "_config"))
        << "Host *\n  IdentityFile " << (dir_ / name) << "\n  IdentitiesOnly yes\n"
        << "  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  BatchMode yes\n"
        << "  ConnectTimeout 5\n";
    return dir_ / (name + "_config");
  }

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

// A libssh client session to the bastion, authenticated with a key file.
struct LibsshClient {
  ssh_session s = ssh_new();
  LibsshClient(int port, const std::string& user) {
    int zero = 0;
    ssh_options_set(s, SSH_OPTIONS_HOST, "127.0.0.1");
    ssh_options_set(s, SSH_OPTIONS_PORT, &port);
    ssh_options_set(s, SSH_OPTIONS_USER, user.c_str());
    ssh_options_set(s, SSH_OPTIONS_PROCESS_CONFIG, &zero);
    long timeout = 10;
    ssh_options_set(s, SSH_OPTIONS_TIMEOUT, &timeout);
  }
  ~LibsshClient() {
    ssh_disconnect(s);
    ssh_free(s);
  }
  bool connect() { return ssh_connect(s) == SSH_OK; }
  int authenticate(const std::string& keyFile) {
    ssh_key priv = nullptr;
    if (ssh_pki_import_privkey_file(keyFile.c_str(), nullptr, nullptr, nullptr, &priv) != SSH_OK)
      return -100;
    int rc = ssh_userauth_publickey(s, nullptr, priv);
    ssh_key_free(priv);
    return rc;
  }
  // Opens a direct-tcpip channel (freed with the session); null if refused.
  ssh_channel forward(const std::string& host, int port, int originPort) {
    ssh_channel ch = ssh_channel_new(s);
    if (ch && ssh_channel_open_forward(ch, host.c_str(), port, "127.0.0.1", originPort) == SSH_OK)
      return ch;
    if (ch) ssh_channel_free(ch);
    return nullptr;
  }
};

}  // namespace jitgate
