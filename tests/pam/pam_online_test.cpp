// pam_jitgate.so against a daemon (answers definite and not, a silent one,
// the real jitgated) and its cutoff watchdog ending a session at
// valid_before, through the real libpam (pam_module_fixture.hpp).
#include "pam_module_fixture.hpp"

namespace jitgate {
namespace {

using namespace pamtest;
using namespace std::chrono_literals;
using testing::PamHandle;
using testing::TempDir;

// A Unix socket that accepts connections (the kernel queues them) but is
// never read: a jitgated that hangs.
class SilentSocket {
 public:
  explicit SilentSocket(const std::string& path) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::strncpy(sa.sun_path, path.c_str(), sizeof sa.sun_path - 1);
    ok_ = fd_ >= 0 && ::bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0 &&
          ::listen(fd_, 8) == 0;
  }
  ~SilentSocket() {
    if (fd_ >= 0) ::close(fd_);
  }
  SilentSocket(const SilentSocket&) = delete;
  SilentSocket& operator=(const SilentSocket&) = delete;
  bool ok() const { return ok_; }

 private:
  int fd_ = -1;
  bool ok_ = false;
};

// A Unix socket server that gives every connection the same bytes after
// reading the request head: a jitgated (or something else) whose answer the
// test chooses.
class CannedAnswer {
 public:
  CannedAnswer(const std::string& path, std::string answer) : answer_(std::move(answer)) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::strncpy(sa.sun_path, path.c_str(), sizeof sa.sun_path - 1);
    ok_ = fd_ >= 0 && ::bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0 &&
          ::listen(fd_, 8) == 0;
    if (ok_) thread_ = std::thread([this] { serve(); });
  }
  ~CannedAnswer() {
    if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);  // wakes accept()
    if (thread_.joinable()) thread_.join();
    if (fd_ >= 0) ::close(fd_);
  }
  CannedAnswer(const CannedAnswer&) = delete;
  CannedAnswer& operator=(const CannedAnswer&) = delete;
  bool ok() const { return ok_; }

  static std::string http(int status, const std::string& body) {
    return "HTTP/1.1 " + std::to_string(status) +
           " X\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n\r\n" + body;
  }

 private:
  void serve() {
    for (;;) {
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) return;
      std::string head;
      char buf[1024];
      while (head.find("\r\n\r\n") == std::string::npos && head.size() < 65536) {
        ssize_t n = ::read(c, buf, sizeof buf);
        if (n <= 0) break;
        head.append(buf, static_cast<size_t>(n));
      }
      size_t off = 0;
      while (off < answer_.size()) {
        ssize_t n = ::send(c, answer_.data() + off, answer_.size() - off, MSG_NOSIGNAL);
        if (n <= 0) break;
        off += static_cast<size_t>(n);
      }
      ::close(c);
    }
  }

  std::string answer_;
  int fd_ = -1;
  bool ok_ = false;
  std::thread thread_;
};

// unreachable=allow is for a jitgated that cannot be reached, never for one
// that answered: every definite answer but "allowed": true denies, each with
// its reason.
TEST_F(PamModuleTest, OnlineDefiniteAnswersDenyEvenWithUnreachableAllow) {
  const std::string error503 =
      R"({"error":{"code":"unavailable","field":"","message":"store: database is locked"}})";
  struct Case {
    const char* name;
    std::string answer;
    const char* why;
  } cases[] = {
      {"503 (store down)", CannedAnswer::http(503, error503),
       "jitgated answered HTTP 503: store: database is locked; denied "
       "(unreachable=allow covers no answer only)"},
      {"500", CannedAnswer::http(500, "{}"), "answered HTTP 500"},
      {"403", CannedAnswer::http(403, R"({"error":{"code":"forbidden","message":"not root"}})"),
       "answered HTTP 403"},
      {"404", CannedAnswer::http(404, "no such thing"), "answered HTTP 404"},
      {"400", CannedAnswer::http(400, "{}"), "answered HTTP 400"},
      {"200 without a decision", CannedAnswer::http(200, R"({"grant":"g-1"})"),
       "answered HTTP 200 without a decision"},
      {"200 not JSON", CannedAnswer::http(200, "allowed"), "answered HTTP 200 without a decision"},
      {"200 allowed not a bool", CannedAnswer::http(200, R"({"allowed":"yes"})"),
       "answered HTTP 200 without a decision"},
      {"not HTTP", "SSH-2.0-OpenSSH_9.2p1\r\n", "answered malformed HTTP answer"},
  };
  int n = 0;
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    auto path = dir_ / ("canned" + std::to_string(++n) + ".sock");
    CannedAnswer server(path, c.answer);
    ASSERT_TRUE(server.ok()) << std::strerror(errno);
    std::string args = "ca=" + caFile_ + " online=" + path + " target=web1 unreachable=allow";
    configure("account", args);
    EXPECT_EQ(account(Attempt{}), PAM_PERM_DENIED);
    auto v = pam::checkOnline(pam::parseArgs(splitArgs(args)).value(), kUser, "127.0.0.1");
    EXPECT_FALSE(v.allowed);
    EXPECT_TRUE(contains(v.reason, c.why)) << v.reason;
  }
  // The control: the same server with a yes lets in, so the refusals above
  // are the answers' doing.
  auto path = dir_ / "canned-yes.sock";
  CannedAnswer yes(path, CannedAnswer::http(200, R"({"allowed":true,"grant":"g-1"})"));
  ASSERT_TRUE(yes.ok());
  configure("account", "ca=" + caFile_ + " online=" + path + " target=web1 unreachable=allow");
  EXPECT_EQ(account(Attempt{}), PAM_SUCCESS);
  configure("account", "ca=" + caFile_ + " online=" + path + " target=web1");
  EXPECT_EQ(account(Attempt{}), PAM_SUCCESS);
}

TEST_F(PamModuleTest, OnlineUnreachableFailsClosedUnlessAllowed) {
  auto absent = dir_ / "absent.sock";
  configure("account", "ca=" + caFile_ + " online=" + absent + " target=web1");
  EXPECT_EQ(account(Attempt{}), PAM_PERM_DENIED);
  configure("account", "ca=" + caFile_ + " online=" + absent + " target=web1 unreachable=allow");
  EXPECT_EQ(account(Attempt{}), PAM_SUCCESS);
}

TEST_F(PamModuleTest, OnlineSilentDaemonTimesOut) {
  auto path = dir_ / "silent.sock";
  SilentSocket silent(path);
  ASSERT_TRUE(silent.ok()) << std::strerror(errno);
  configure("account", "ca=" + caFile_ + " online=" + path + " target=web1 timeout=300");
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(account(Attempt{}), PAM_PERM_DENIED);
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, 250ms);
  EXPECT_LT(took, 1s);

  configure("account",
            "ca=" + caFile_ + " online=" + path + " target=web1 timeout=300 unreachable=allow");
  start = std::chrono::steady_clock::now();
  EXPECT_EQ(account(Attempt{}), PAM_SUCCESS);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
}

// The real jitgated on a control socket, with target web1 (port 22 from
// 127.0.0.0/8) and a one-hour grant for alice from 127.0.0.1/32.
class PamOnlineTest : public PamModuleTest {
 protected:
  void SetUp() override {
    PamModuleTest::SetUp();
    if (IsSkipped()) return;
    socket_ = dir_ / "c.sock";
    daemon_ = std::make_unique<testing::Daemon>(
        JITGATED_BIN,
        std::vector<std::string>{"--state-dir", dir_ / "state", "--control-socket", socket_},
        dir_ / "daemon.log");
    ASSERT_TRUE(daemon_->waitReady()) << daemon_->log();
    auto t = jitctl({"target", "add", "web1", "--address", "127.0.0.1", "--os", "linux"});
    ASSERT_EQ(t.exitCode, 0) << t.err;
    auto p = jitctl({"policy", "enable", "web1", "--port", "22", "--from", "127.0.0.0/8"});
    ASSERT_EQ(p.exitCode, 0) << p.err;
    auto g = jitctl({"grant", kUser, "web1", "--port", "22", "--from", "127.0.0.1/32", "--for",
                     "1h", "--justification", "pam test"});
    ASSERT_EQ(g.exitCode, 0) << g.err;
    grant_ = g.out;
    while (!grant_.empty() && grant_.back() == '\n') grant_.pop_back();
  }

  testing::RunResult jitctl(std::vector<std::string> args) {
    args.insert(args.begin(), {JITCTL_BIN, "--socket", socket_});
    return testing::run(args, dir_.path());
  }

  std::string onlineArgs() const {
    return "ca=" + caFile_ + " online=" + socket_ + " target=web1 port=22";
  }

  std::string socket_;
  std::string grant_;
  std::unique_ptr<testing::Daemon> daemon_;
};

TEST_F(PamOnlineTest, AccountFollowsTheGrant) {
  configure("account", onlineArgs());
  EXPECT_EQ(account(Attempt{}), PAM_SUCCESS);
  EXPECT_EQ(account(Attempt{kUser, "10.9.9.9", std::nullopt}), PAM_PERM_DENIED);
  EXPECT_EQ(account(Attempt{"bob", "127.0.0.1", std::nullopt}), PAM_PERM_DENIED);
  EXPECT_EQ(account(Attempt{kUser, std::nullopt, std::nullopt}), PAM_PERM_DENIED);

  // Another port than the grant's.
  configure("account", "ca=" + caFile_ + " online=" + socket_ + " target=web1 port=2222");
  EXPECT_EQ(account(Attempt{}), PAM_PERM_DENIED);
  // Another target.
  configure("account", "ca=" + caFile_ + " online=" + socket_ + " target=web2 port=22");
  EXPECT_EQ(account(Attempt{}), PAM_PERM_DENIED);

  configure("account", onlineArgs());
  auto r = jitctl({"revoke", grant_});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(account(Attempt{}), PAM_PERM_DENIED);
}

TEST_F(PamOnlineTest, OnlineGrantDoesNotExcuseABadCertificate) {
  // With SSH_AUTH_INFO_0 present, a grant is not enough: the certificate
  // is checked too.
  configure("account", onlineArgs());
  EXPECT_EQ(account(with(request())), PAM_SUCCESS);
  auto expired = request();
  expired.validAfter = now_ - 2h;
  expired.validBefore = now_ - 1h;
  EXPECT_EQ(account(with(expired)), PAM_PERM_DENIED);
}

TEST_F(PamOnlineTest, DaemonStoppedFailsClosed) {
  configure("account", onlineArgs());
  ASSERT_EQ(account(Attempt{}), PAM_SUCCESS);
  daemon_->stop();
  EXPECT_EQ(account(Attempt{}), PAM_PERM_DENIED);
}

// ----------------------------------------------------------------- cutoff

// The watchdog ends the session process and everything below it, so the
// session runs in a child of the test, never in the test itself.
class PamCutoffTest : public PamModuleTest {
 protected:
  struct Outcome {
    int status = 0;
    double endedAt = 0;  // wall-clock seconds
  };

  // Forks a "session host": opens the session (exit 10 if refused), then,
  // when `closeAfter` is set, closes it that many seconds later; then
  // sleeps until `sleepUntil` and exits 0.
  Outcome runSession(const Attempt& a, std::optional<std::chrono::milliseconds> closeAfter,
                     double sleepUntil, bool ignoreTerm = false) {
    pid_t child = ::fork();
    if (child < 0) throw std::runtime_error("fork");
    if (child == 0) {
      if (ignoreTerm) ::signal(SIGTERM, SIG_IGN);
      {
        PamHandle pam(confdir(), kService, a.user);
        if (pam.started() != PAM_SUCCESS || pam.setRhost(*a.rhost) != PAM_SUCCESS ||
            pam.setAuthInfo(*a.authInfo) != PAM_SUCCESS)
          ::_exit(11);
        if (pam.openSession() != PAM_SUCCESS) ::_exit(10);
        if (closeAfter) {
          std::this_thread::sleep_for(*closeAfter);
          if (pam.closeSession() != PAM_SUCCESS) ::_exit(12);
          pam.end();
        }
        while (wallSeconds() < sleepUntil)
          std::this_thread::sleep_for(std::chrono::duration<double>(sleepUntil - wallSeconds()));
      }
      ::_exit(0);
    }
    child_ = child;
    // The watchdog appears while the session opens.
    sawWatchdog_ = testing::waitForWatchdog(child, 1s).has_value();
    Outcome o;
    ::waitpid(child, &o.status, 0);
    o.endedAt = wallSeconds();
    child_ = -1;
    return o;
  }

  void TearDown() override {
    if (child_ > 0) {
      ::kill(child_, SIGKILL);
      ::waitpid(child_, nullptr, 0);
    }
    PamModuleTest::TearDown();
    EXPECT_TRUE(testing::waitWatchdogsGone(std::nullopt, 3s));
  }

  pid_t child_ = -1;
  bool sawWatchdog_ = false;
};

TEST_F(PamCutoffTest, SessionIsEndedAtValidBefore) {
  configure("session", sessionArgs() + " grace=1");
  auto req = request();
  req.validBefore = now_ + 3s;
  double validBefore = static_cast<double>(req.validBefore.time_since_epoch().count());
  auto out = runSession(with(req), std::nullopt, wallSeconds() + 30);
  EXPECT_TRUE(sawWatchdog_);
  ASSERT_TRUE(WIFSIGNALED(out.status)) << "exit " << WEXITSTATUS(out.status);
  EXPECT_EQ(WTERMSIG(out.status), SIGTERM);
  EXPECT_GE(out.endedAt, validBefore - 1);
  EXPECT_LE(out.endedAt, validBefore + 2);
  // Its work done, the watchdog goes once the session process has.
  EXPECT_TRUE(testing::waitWatchdogsGone(std::nullopt, 3s));
}

TEST_F(PamCutoffTest, SessionIgnoringSigtermIsKilledAfterTheGrace) {
  configure("session", sessionArgs() + " grace=1");
  auto req = request();
  req.validBefore = now_ + 3s;
  double validBefore = static_cast<double>(req.validBefore.time_since_epoch().count());
  auto out = runSession(with(req), std::nullopt, wallSeconds() + 30, /*ignoreTerm=*/true);
  ASSERT_TRUE(WIFSIGNALED(out.status)) << "exit " << WEXITSTATUS(out.status);
  EXPECT_EQ(WTERMSIG(out.status), SIGKILL);
  EXPECT_GE(out.endedAt, validBefore + 1 - 0.5);
  EXPECT_LE(out.endedAt, validBefore + 1 + 2);
  EXPECT_TRUE(testing::waitWatchdogsGone(std::nullopt, 3s));
}

TEST_F(PamCutoffTest, ClosedSessionIsNotCutOff) {
  configure("session", sessionArgs() + " grace=1");
  auto req = request();
  req.validBefore = now_ + 3s;
  double validBefore = static_cast<double>(req.validBefore.time_since_epoch().count());
  auto out = runSession(with(req), 500ms, validBefore + 2);
  EXPECT_TRUE(sawWatchdog_);
  ASSERT_TRUE(WIFEXITED(out.status)) << "signal " << WTERMSIG(out.status);
  EXPECT_EQ(WEXITSTATUS(out.status), 0);
  EXPECT_GE(out.endedAt, validBefore + 2);
}

}  // namespace
}  // namespace jitgate
