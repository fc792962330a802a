// jitgated under a service manager the test plays: a NOTIFY_SOCKET it owns
// (READY=1 only once the fronts listen, WATCHDOG=1 keeps coming, STOPPING=1
// on SIGTERM), SIGHUP applying a changed role list while an SSH session
// stays up, and the Prometheus endpoint scraped during that real session
// (ssh -L through the bastion to a TCP echo server) and checked by promtool.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <thread>

#include "../support/process.hpp"
#include "../support/sshd.hpp"
#include "../support/test_support.hpp"

namespace jitgate {
namespace {

using namespace std::chrono_literals;
using testing::Daemon;
using testing::RunResult;
using testing::TempDir;

// The service manager's end of NOTIFY_SOCKET: one datagram per sd_notify.
class NotifySocket {
 public:
  explicit NotifySocket(const std::string& path) : path_(path) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) ::close(fd_), fd_ = -1;
  }
  ~NotifySocket() {
    if (fd_ >= 0) ::close(fd_);
    ::unlink(path_.c_str());
  }
  bool ok() const { return fd_ >= 0; }
  // The next message, or "" after `wait`.
  std::string next(std::chrono::milliseconds wait = 10s) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(wait.count())) != 1) return "";
    char buf[4096];
    auto n = ::recv(fd_, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
  }
  // Messages until one contains `what` (returned), or "" after `wait`.
  std::string until(const std::string& what, std::vector<std::string>* seen = nullptr,
                    std::chrono::milliseconds wait = 10s) {
    auto deadline = std::chrono::steady_clock::now() + wait;
    while (std::chrono::steady_clock::now() < deadline) {
      auto m = next(std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now()));
      if (m.empty()) return "";
      if (seen) seen->push_back(m);
      if (m.find(what) != std::string::npos) return m;
    }
    return "";
  }

 private:
  std::string path_;
  int fd_ = -1;
};

int port(const std::string& text, const std::string& name) {
  std::smatch m;
  if (!std::regex_search(text, m, std::regex(name + " 127\\.0\\.0\\.1:([0-9]+)"))) return 0;
  return std::stoi(m[1]);
}

int connectTo(int p) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(p));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// What comes back within 5 s after sending `text`; "" when the peer closed.
std::string echoThrough(int fd, const std::string& text) {
  if (::send(fd, text.data(), text.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(text.size()))
    return "";
  std::string got;
  while (got.size() < text.size()) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 5000) != 1) break;
    char buf[256];
    auto n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  return got;
}

// A TCP echo server on a loopback port the kernel picks: the target.
class EchoServer {
 public:
  EchoServer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(fd_, 16);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~EchoServer() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  int port() const { return port_; }

 private:
  void serve() {
    std::vector<pollfd> fds{{fd_, POLLIN, 0}};
    while (!stop_) {
      if (::poll(fds.data(), fds.size(), 50) <= 0) continue;
      for (size_t i = fds.size(); i-- > 0;) {
        if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        if (i == 0) {
          int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
          if (c >= 0) fds.push_back({c, POLLIN, 0});
          continue;
        }
        char buf[4096];
        auto n = ::recv(fds[i].fd, buf, sizeof buf, 0);
        if (n <= 0 || ::send(fds[i].fd, buf, static_cast<size_t>(n), MSG_NOSIGNAL) != n) {
          ::close(fds[i].fd);
          fds.erase(fds.begin() + static_cast<long>(i));
        }
      }
    }
    for (size_t i = 1; i < fds.size(); ++i) ::close(fds[i].fd);
  }
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// ssh -N -L in the background, stopped at the end.
class Tunnel {
 public:
  explicit Tunnel(const std::vector<std::string>& argv, const std::string& errPath) {
    pid_ = ::fork();
    if (pid_ == 0) {
      int nul = ::open("/dev/null", O_RDWR);
      int err = ::open(errPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(nul, 0);
      ::dup2(nul, 1);
      ::dup2(err, 2);
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
  }
  ~Tunnel() {
    ::kill(pid_, SIGTERM);
    ::waitpid(pid_, nullptr, 0);
  }

 private:
  pid_t pid_ = -1;
};

class ServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::chmod(dir_.path().c_str(), 0755);
    socket_ = dir_ / "c.sock";
    config_ = dir_ / "jitgated.toml";
    writeConfig("");
  }
  void TearDown() override {
    if (daemon_) daemon_->stop();
    auto log = testing::slurp(dir_ / "daemon.log");
    for (const char* report : {"AddressSanitizer", "LeakSanitizer", "runtime error:"})
      EXPECT_EQ(log.find(report), std::string::npos) << log;
  }

  void writeConfig(const std::string& roles) {
    std::string tmp = config_ + ".new";
    std::ofstream(tmp) << "control_socket_group = \"nogroup\"\n[roles]\n" << roles;
    ::chmod(tmp.c_str(), 0600);
    ::rename(tmp.c_str(), config_.c_str());
  }

  // jitgated with NOTIFY_SOCKET (and WATCHDOG_USEC) in its environment.
  void start(NotifySocket& notify, const std::string& watchdogUsec = "") {
    ::setenv("NOTIFY_SOCKET", (dir_ / "notify.sock").c_str(), 1);
    if (!watchdogUsec.empty()) ::setenv("WATCHDOG_USEC", watchdogUsec.c_str(), 1);
    daemon_ = std::make_unique<Daemon>(
        JITGATED_BIN,
        std::vector<std::string>{"--config", config_, "--state-dir", dir_ / "state",
                                 "--control-socket", socket_},
        dir_ / "daemon.log");
    ::unsetenv("NOTIFY_SOCKET");
    ::unsetenv("WATCHDOG_USEC");
    ready_ = notify.until("READY=1");
    ASSERT_FALSE(ready_.empty()) << daemon_->log();
  }

  RunResult jitctl(std::vector<std::string> args, std::optional<testing::RunAs> as = {}) {
    // As another user: a copy that user can reach (the clone may be under /root).
    args.insert(args.begin(), {as ? testing::reachableCopy(JITCTL_BIN, dir_.path()) : JITCTL_BIN,
                               "--socket", socket_});
    return testing::run(args, dir_.path(), as);
  }
  std::string out(std::vector<std::string> args) {
    auto r = jitctl(std::move(args));
    EXPECT_EQ(r.exitCode, 0) << r.err;
    while (!r.out.empty() && r.out.back() == '\n') r.out.pop_back();
    return r.out;
  }
  std::string scrape() {
    return testing::run(
               {"/usr/bin/curl", "-sS", "--max-time", "5",
                "http://127.0.0.1:" + std::to_string(port(ready_, "metrics")) + "/metrics"},
               dir_.path())
        .out;
  }
  // The value of one series in a scrape; -1 when absent.
  static double sample(const std::string& text, const std::string& series) {
    auto at = text.find("\n" + series + " ");
    if (at == std::string::npos) return -1;
    return std::stod(text.substr(at + series.size() + 2));
  }

  // Enrolls vm1 at the echo server, alice with a key and a grant; opens
  // ssh -L forwards: `local` to the granted port, `refusedLocal` to 3389.
  void openTunnel(const EchoServer& echo, int local, int refusedLocal) {
    auto target = std::to_string(echo.port());
    ASSERT_EQ(
        testing::run({testing::kSshKeygenPath, "-q", "-t", "ed25519", "-N", "", "-f", dir_ / "id"},
                     dir_.path())
            .exitCode,
        0);
    out({"target", "add", "vm1", "--address", "127.0.0.1", "--os", "linux", "--ssh-port", target});
    out({"policy", "enable", "vm1", "--port", target, "--port", "3389"});
    out({"user", "add", "alice", "--key", dir_ / "id.pub"});
    grantId_ =
        out({"grant", "alice", "vm1", "--port", target, "--from", "127.0.0.1", "--for", "30m"});
    std::ofstream(dir_ / "ssh_config")
        << "Host *\n  IdentityFile " << (dir_ / "id") << "\n  IdentitiesOnly yes\n"
        << "  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  BatchMode yes\n"
        << "  ConnectTimeout 5\n  ExitOnForwardFailure yes\n";
    tunnel_ = std::make_unique<Tunnel>(
        std::vector<std::string>{testing::kSshPath, "-F", dir_ / "ssh_config", "-N", "-p",
                                 std::to_string(port(ready_, "ssh")), "-L",
                                 "127.0.0.1:" + std::to_string(local) + ":vm1:" + target, "-L",
                                 "127.0.0.1:" + std::to_string(refusedLocal) + ":vm1:3389",
                                 "alice@127.0.0.1"},
        dir_ / "ssh.err");
    // The forward listens once ssh has authenticated.
    for (int i = 0; i < 250 && (client_ = connectTo(local)) < 0; ++i)
      std::this_thread::sleep_for(20ms);
    ASSERT_GE(client_, 0) << testing::slurp(dir_ / "ssh.err") << daemon_->log();
    ASSERT_EQ(echoThrough(client_, "ping"), "ping")
        << testing::slurp(dir_ / "ssh.err") << daemon_->log();
  }

  TempDir dir_;
  std::string socket_, config_, ready_, grantId_;
  std::unique_ptr<Daemon> daemon_;
  std::unique_ptr<Tunnel> tunnel_;
  int client_ = -1;
};

TEST_F(ServiceTest, ReadyOnlyOnceTheFrontsListenThenWatchdogThenStopping) {
  NotifySocket notify(dir_ / "notify.sock");
  ASSERT_TRUE(notify.ok());
  start(notify, "200000");
  // READY=1 is the first message, and every front it names accepts already.
  EXPECT_EQ(ready_.rfind("READY=1\nSTATUS=serving: control socket, ssh 127.0.0.1:", 0), 0u)
      << ready_;
  for (const char* front : {"ssh", "winrm-http", "winrm-https", "metrics"}) {
    int p = port(ready_, front);
    ASSERT_GT(p, 0) << front << ": " << ready_;
    int fd = connectTo(p);
    EXPECT_GE(fd, 0) << front;
    if (fd >= 0) ::close(fd);
  }
  // Keep-alives at half of WATCHDOG_USEC, from the event loop.
  std::vector<std::string> seen;
  int keepAlives = 0;
  while (keepAlives < 5) {
    auto m = notify.until("WATCHDOG=1", &seen, 5s);
    ASSERT_FALSE(m.empty()) << keepAlives << " keep-alives, then none";
    ++keepAlives;
  }
  ::kill(daemon_->pid(), SIGTERM);
  auto stopping = notify.until("STOPPING=1");
  EXPECT_NE(stopping.find("STATUS=stopping on signal 15"), std::string::npos) << stopping;
  EXPECT_EQ(daemon_->waitExit(), 0);
}

TEST_F(ServiceTest, NoWatchdogAskedNoKeepAlives) {
  NotifySocket notify(dir_ / "notify.sock");
  ASSERT_TRUE(notify.ok());
  start(notify);
  EXPECT_EQ(notify.next(600ms), "");
}

TEST_F(ServiceTest, ReloadAppliesANewRoleListWithoutDroppingTheSession) {
  NotifySocket notify(dir_ / "notify.sock");
  ASSERT_TRUE(notify.ok());
  start(notify);
  EchoServer echo;
  openTunnel(echo, testing::pickFreeLoopbackPort(), testing::pickFreeLoopbackPort());
  passwd* nobody = ::getpwnam("nobody");
  ASSERT_NE(nobody, nullptr);
  testing::RunAs asNobody{nobody->pw_uid, ::getgrnam("nogroup")->gr_gid};
  auto before = jitctl({"status"}, asNobody);
  EXPECT_NE(before.exitCode, 0) << before.out;

  writeConfig("readers = [\"nobody\"]\n");
  ::kill(daemon_->pid(), SIGHUP);
  EXPECT_NE(notify.until("RELOADING=1").find("STATUS=reloading " + config_), std::string::npos);
  auto ready = notify.until("READY=1");
  EXPECT_NE(ready.find("reload: applied roles.readers"), std::string::npos) << ready;
  auto after = jitctl({"status"}, asNobody);
  EXPECT_EQ(after.exitCode, 0) << after.err;
  // The session under the grant never noticed.
  EXPECT_EQ(echoThrough(client_, "still here"), "still here") << daemon_->log();

  // A change that needs a restart is named, and the roles stay as they are.
  std::ofstream(config_, std::ios::app) << "[ssh]\nmax_per_source = 3\n";
  ::kill(daemon_->pid(), SIGHUP);
  ready = notify.until("READY=1");
  EXPECT_NE(ready.find("reload: needs a restart: ssh.max_per_source"), std::string::npos) << ready;
  // A file that no longer parses: refused, and the running settings stay.
  std::ofstream(config_, std::ios::app) << "nonsense = \n";
  ::kill(daemon_->pid(), SIGHUP);
  ready = notify.until("READY=1");
  EXPECT_NE(ready.find("reload: refused, the running settings stay"), std::string::npos) << ready;
  EXPECT_EQ(jitctl({"status"}, asNobody).exitCode, 0);
  EXPECT_EQ(echoThrough(client_, "and now"), "and now");
  auto audit = out({"audit", "--csv"});
  EXPECT_NE(audit.find("config.reload"), std::string::npos) << audit;
  EXPECT_EQ(audit.find("session.disconnect"), std::string::npos) << audit;
}

TEST_F(ServiceTest, MetricsScrapedDuringARealSessionPassPromtoolAndMove) {
  NotifySocket notify(dir_ / "notify.sock");
  ASSERT_TRUE(notify.ok());
  start(notify);
  auto first = scrape();
  ASSERT_NE(first.find("# TYPE jitgate_grants_active gauge"), std::string::npos) << first;
  EchoServer echo;
  int refusedLocal = testing::pickFreeLoopbackPort();
  openTunnel(echo, testing::pickFreeLoopbackPort(), refusedLocal);

  auto live = scrape();
  EXPECT_EQ(sample(live, "jitgate_sessions{front=\"ssh\",mode=\"forwarding\"}"), 1) << live;
  EXPECT_EQ(sample(live, "jitgate_connections_accepted_total{front=\"ssh\",mode=\"forwarding\"}"),
            1);
  EXPECT_EQ(sample(live, "jitgate_grants_active"), 1);
  EXPECT_GE(sample(live, "jitgate_decision_duration_seconds_count{outcome=\"allow\"}"), 1);
  // A channel to a port without a grant: refused, counted by reason.
  int refused = connectTo(refusedLocal);
  ASSERT_GE(refused, 0);
  EXPECT_EQ(echoThrough(refused, "x"), "");
  ::close(refused);
  std::string afterRefusal;
  for (int i = 0; i < 100; ++i, std::this_thread::sleep_for(50ms)) {
    afterRefusal = scrape();
    if (afterRefusal.find("jitgate_connections_refused_total{front=\"ssh\"") != std::string::npos)
      break;
  }
  EXPECT_NE(afterRefusal.find("jitgate_connections_refused_total{front=\"ssh\",reason=\""),
            std::string::npos)
      << afterRefusal;

  // promtool on a scrape taken while the session is live.
  std::ofstream(dir_ / "scrape.txt") << afterRefusal;
  auto check =
      testing::run({"/bin/sh", "-c", "promtool check metrics < " + (dir_ / "scrape.txt") + " 2>&1"},
                   dir_.path());
  EXPECT_EQ(check.exitCode, 0) << check.out;
  EXPECT_EQ(check.out, "") << check.out;
  // No user, target or address in any label.
  for (const char* leak : {"alice", "vm1", "127.0.0.1"})
    EXPECT_EQ(afterRefusal.find(leak), std::string::npos) << leak;

  // The cut: revoke, the session ends, the counters say so.
  out({"revoke", grantId_});
  EXPECT_EQ(echoThrough(client_, "gone"), "");
  std::string cut;
  for (int i = 0; i < 100; ++i, std::this_thread::sleep_for(50ms)) {
    cut = scrape();
    if (sample(cut, "jitgate_cutoffs_total{reason=\"revoked\"}") == 1) break;
  }
  EXPECT_EQ(sample(cut, "jitgate_cutoffs_total{reason=\"revoked\"}"), 1) << cut;
  EXPECT_EQ(sample(cut, "jitgate_sessions{front=\"ssh\",mode=\"forwarding\"}"), 0);
  EXPECT_EQ(sample(cut, "jitgate_cutoff_lag_seconds_count"), 1);
  EXPECT_GT(sample(cut,
                   "jitgate_relayed_bytes_total{direction=\"from_target\",front=\"ssh\","
                   "mode=\"forwarding\"}"),
            0);
  EXPECT_EQ(sample(cut, "jitgate_grants_active"), 0);
  EXPECT_EQ(sample(cut, "jitgate_store_up"), 1);
}

}  // namespace
}  // namespace jitgate
