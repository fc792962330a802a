// The real jitgated and the real jitctl over a real Unix socket: the whole
// control path, durability across kill -9, socket safety, and roles with a
// real second Unix user.
#include <grp.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <boost/json.hpp>
#include <cstring>
#include <filesystem>
#include <random>
#include <thread>

#include "../support/process.hpp"
#include "../support/test_support.hpp"

namespace jitgate {
namespace {

namespace json = boost::json;
using testing::Daemon;
using testing::RunResult;
using testing::TempDir;

class ControlSocketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::chmod(dir_.path().c_str(), 0755);  // other users must reach the socket
    socket_ = dir_ / "c.sock";
  }

  std::unique_ptr<Daemon> startDaemon(std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"--state-dir", dir_ / "state", "--control-socket", socket_};
    args.insert(args.end(), extra.begin(), extra.end());
    auto d = std::make_unique<Daemon>(JITGATED_BIN, args, dir_ / "daemon.log");
    EXPECT_TRUE(d->waitReady()) << d->log();
    return d;
  }

  RunResult jitctl(std::vector<std::string> args, std::optional<testing::RunAs> as = {}) {
    args.insert(args.begin(), {as ? reachableJitctl() : JITCTL_BIN, "--socket", socket_});
    return testing::run(args, dir_.path(), as);
  }
  std::string reachableJitctl() { return testing::reachableCopy(JITCTL_BIN, dir_.path()); }
  json::value jitctlJson(std::vector<std::string> args) {
    args.insert(args.begin(), "--json");
    auto r = jitctl(args);
    EXPECT_EQ(r.exitCode, 0) << r.err;
    boost::system::error_code ec;
    auto v = json::parse(r.out, ec);
    EXPECT_FALSE(ec) << r.out;
    return v;
  }
  std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
  }
  void enroll() {
    ASSERT_EQ(jitctl({"target", "add", "vm1", "--address", "10.0.0.5", "--os", "linux"}).exitCode,
              0);
    ASSERT_EQ(jitctl({"policy", "enable", "vm1", "--port", "22", "--from", "10.0.0.0/8"}).exitCode,
              0);
  }

  TempDir dir_;
  std::string socket_;
};

TEST_F(ControlSocketTest, AdminFlowThroughJitctl) {
  auto d = startDaemon();
  enroll();
  auto g = jitctl({"grant", "alice", "vm1", "--port", "22", "--from", "10.1.0.0/16", "--for",
                   "PT1H", "--justification", "patching"});
  ASSERT_EQ(g.exitCode, 0) << g.err;
  std::string id = trim(g.out);
  ASSERT_EQ(id.rfind("g-", 0), 0u) << "grant prints only the id: " << g.out;
  EXPECT_EQ(id.size(), 18u);

  auto active = jitctlJson({"grants", "--active"}).as_array();
  ASSERT_EQ(active.size(), 1u);
  EXPECT_EQ(active[0].at("id").as_string(), id);
  EXPECT_EQ(active[0].at("source").as_string(), "10.1.0.0/16");

  auto table = jitctl({"grants", "--active"});
  EXPECT_EQ(table.exitCode, 0);
  EXPECT_NE(table.out.find(id), std::string::npos);

  auto allowed = jitctl({"check", "alice", "vm1", "--port", "22", "--source", "10.1.2.3"});
  EXPECT_EQ(allowed.exitCode, 0) << allowed.out << allowed.err;
  auto denied = jitctl({"check", "alice", "vm1", "--port", "22", "--source", "192.168.1.1"});
  EXPECT_EQ(denied.exitCode, 1);

  auto views = jitctlJson({"target", "list"}).as_array();
  ASSERT_EQ(views.size(), 1u);
  EXPECT_EQ(views[0].at("state").as_string(), "configured");
  EXPECT_EQ(views[0].at("approvedRequestsLast7Days").as_int64(), 1);

  ASSERT_EQ(jitctl({"revoke", id}).exitCode, 0);
  EXPECT_TRUE(jitctlJson({"grants", "--active"}).as_array().empty());
  auto again = jitctl({"revoke", id});
  EXPECT_EQ(again.exitCode, 1);
  EXPECT_NE(again.err.find("already revoked"), std::string::npos) << again.err;

  auto csv = jitctl({"audit", "--csv"});
  ASSERT_EQ(csv.exitCode, 0);
  EXPECT_EQ(csv.out.rfind("seq,time_utc,actor,action,outcome", 0), 0u);
  EXPECT_NE(csv.out.find("grant.revoke"), std::string::npos);
  EXPECT_NE(csv.out.find("\r\n"), std::string::npos);
}

TEST_F(ControlSocketTest, RefusalsAreOneLineNamingTheField) {
  auto d = startDaemon();
  enroll();
  struct Case {
    std::vector<std::string> args;
    const char* needle;
  } cases[] = {
      {{"grant", "alice", "vm1", "--port", "22", "--from", "10.0.0.0/8", "--for", "4h"},
       "duration"},
      {{"grant", "alice", "vm1", "--port", "23", "--from", "10.0.0.0/8", "--for", "1h"}, "port"},
      {{"grant", "alice", "vm1", "--port", "22", "--from", "192.168.0.0/16", "--for", "1h"},
       "source"},
      {{"grant", "alice", "vm1", "--port", "22", "--from", "0.0.0.0/0", "--for", "1h"}, "source"},
      {{"grant", "alice", "vm1", "--port", "22", "--from", "10.0.0.0/8", "--until",
        "2020-01-01T00:00:00Z"},
       "endTimeUtc"},
      {{"grant", "alice", "nope", "--port", "22", "--from", "10.0.0.0/8", "--for", "1h"}, "target"},
      {{"policy", "enable", "vm1", "--port", "22", "--max", "P2D"}, "maxRequestAccessDuration"},
      {{"target", "add", "bad name", "--address", "10.0.0.6", "--os", "linux"}, "name"},
  };
  for (const auto& c : cases) {
    auto r = jitctl(c.args);
    EXPECT_EQ(r.exitCode, 1) << c.args[0] << " " << r.out;
    EXPECT_NE(r.err.find(c.needle), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one line: " << r.err;
  }
  EXPECT_TRUE(jitctlJson({"grants"}).as_array().empty());
}

TEST_F(ControlSocketTest, AChildThatCannotExecSaysWhy) {
  // The test harness itself: a binary another user cannot reach must fail
  // with the reason, not a silent 127.
  auto r = testing::run({dir_ / "no-such-binary"}, dir_.path());
  EXPECT_EQ(r.exitCode, 127);
  EXPECT_EQ(r.err, "test child: cannot exec " + (dir_ / "no-such-binary") +
                       ": No such file or directory\n");
}

TEST_F(ControlSocketTest, AnUnknownVerbIsNamed) {
  // No daemon needed: usage errors are decided before the socket is used.
  auto top = jitctl({"bogus"});
  EXPECT_EQ(top.exitCode, 2);
  EXPECT_EQ(top.err, "jitctl: unknown command 'bogus' (see --help)\n");
  auto nested = jitctl({"target", "frobnicate"});
  EXPECT_EQ(nested.exitCode, 2);
  EXPECT_EQ(nested.err, "jitctl target: unknown command 'frobnicate' (see --help)\n");
  auto escaped = jitctl({"bo\x1b[2Jgus"});
  EXPECT_EQ(escaped.exitCode, 2);
  EXPECT_EQ(escaped.err.find('\x1b'), std::string::npos) << "control bytes reach the terminal";
  auto none = jitctl({"target"});
  EXPECT_EQ(none.exitCode, 2);
  EXPECT_NE(none.err.find("jitctl target: A subcommand is required"), std::string::npos)
      << none.err;
}

TEST_F(ControlSocketTest, CommittedStateSurvivesKill9AndEndedWindowsStayEnded) {
  auto d = startDaemon();
  enroll();
  auto longer = trim(
      jitctl({"grant", "alice", "vm1", "--port", "22", "--from", "10.0.0.0/8", "--for", "1h"}).out);
  auto brief = trim(
      jitctl({"grant", "bob", "vm1", "--port", "22", "--from", "10.0.0.0/8", "--for", "2s"}).out);
  auto revoked = trim(
      jitctl({"grant", "carol", "vm1", "--port", "22", "--from", "10.0.0.0/8", "--for", "1h"}).out);
  ASSERT_EQ(jitctl({"revoke", revoked}).exitCode, 0);
  d->kill9();
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));  // bob's window ends while down
  d = startDaemon();
  std::map<std::string, std::string> states;
  auto grants = jitctlJson({"grants"});
  for (const auto& g : grants.as_array())
    states[json::value_to<std::string>(g.at("id"))] = json::value_to<std::string>(g.at("state"));
  EXPECT_EQ(states[longer], "active");
  EXPECT_EQ(states[brief], "expired");
  EXPECT_EQ(states[revoked], "revoked");
  EXPECT_EQ(jitctl({"check", "bob", "vm1", "--port", "22", "--source", "10.0.0.1"}).exitCode, 1);
  EXPECT_EQ(jitctl({"check", "alice", "vm1", "--port", "22", "--source", "10.0.0.1"}).exitCode, 0);
  auto audit = jitctl({"audit", "--csv"}).out;
  EXPECT_NE(audit.find("grant.expire"), std::string::npos);
  EXPECT_NE(audit.find("policy.enable"), std::string::npos);
}

TEST_F(ControlSocketTest, WindowsExpireOnTheirOwn) {
  auto d = startDaemon();
  enroll();
  auto id = trim(
      jitctl({"grant", "alice", "vm1", "--port", "22", "--from", "10.0.0.0/8", "--for", "2s"}).out);
  ASSERT_EQ(jitctlJson({"grants", "--active"}).as_array().size(), 1u);
  // The end-of-window timer, not a query, moves it to expired.
  bool expired = false;
  for (int i = 0; i < 60 && !expired; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    auto audit = jitctlJson({"audit", "--target", "vm1"});
    for (const auto& e : audit.as_array())
      if (e.at("action").as_string() == "grant.expire" && e.at("grant").as_string() == id)
        expired = true;
  }
  EXPECT_TRUE(expired);
  EXPECT_TRUE(jitctlJson({"grants", "--active"}).as_array().empty());
}

TEST_F(ControlSocketTest, SocketIsCreatedSafely) {
  // A stale socket (nobody listening) is replaced.
  {
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::strcpy(sa.sun_path, socket_.c_str());
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    ::close(fd);
  }
  auto d = startDaemon();
  struct stat st {};
  ASSERT_EQ(::lstat(socket_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0660u);
  EXPECT_EQ(jitctl({"status"}).exitCode, 0);

  // A live socket is not taken over.
  Daemon second(JITGATED_BIN, {"--state-dir", dir_ / "state2", "--control-socket", socket_},
                dir_ / "second.log");
  EXPECT_NE(second.waitExit(), 0);
  EXPECT_NE(second.log().find("another process is listening"), std::string::npos) << second.log();
  EXPECT_EQ(jitctl({"status"}).exitCode, 0);
  d->stop();
  EXPECT_NE(::lstat(socket_.c_str(), &st), 0) << "socket removed on stop";

  // A regular file or a symlink at the path is never replaced.
  { std::ofstream(socket_) << "keep me"; }
  Daemon onFile(JITGATED_BIN, {"--state-dir", dir_ / "state", "--control-socket", socket_},
                dir_ / "file.log");
  EXPECT_NE(onFile.waitExit(), 0);
  EXPECT_EQ(testing::slurp(socket_), "keep me");
  ::unlink(socket_.c_str());
  ASSERT_EQ(::symlink((dir_ / "elsewhere").c_str(), socket_.c_str()), 0);
  Daemon onLink(JITGATED_BIN, {"--state-dir", dir_ / "state", "--control-socket", socket_},
                dir_ / "link.log");
  EXPECT_NE(onLink.waitExit(), 0);
  EXPECT_NE(::lstat((dir_ / "elsewhere").c_str(), &st), 0);
}

TEST_F(ControlSocketTest, OneDaemonPerStateDirAndAConfigOnlyRootMayWrite) {
  auto d = startDaemon();
  Daemon twin(JITGATED_BIN, {"--state-dir", dir_ / "state", "--control-socket", dir_ / "t.sock"},
              dir_ / "twin.log");
  EXPECT_NE(twin.waitExit(), 0);
  EXPECT_NE(twin.log().find("another jitgated is using it"), std::string::npos) << twin.log();
  d->stop();

  std::string conf = dir_ / "open.toml";
  std::ofstream(conf) << "[roles]\nadmins = [\"mallory\"]\n";
  ASSERT_EQ(::chmod(conf.c_str(), 0666), 0);
  Daemon loose(JITGATED_BIN,
               {"--config", conf, "--state-dir", dir_ / "state", "--control-socket", socket_},
               dir_ / "loose.log");
  EXPECT_NE(loose.waitExit(), 0);
  EXPECT_NE(loose.log().find("must not be writable by group or others"), std::string::npos)
      << loose.log();
  std::ofstream(dir_ / "typo.toml") << "[roles]\nadmin = [\"mallory\"]\n";
  Daemon typo(
      JITGATED_BIN,
      {"--config", dir_ / "typo.toml", "--state-dir", dir_ / "state", "--control-socket", socket_},
      dir_ / "typo.log");
  EXPECT_NE(typo.waitExit(), 0);
  EXPECT_NE(typo.log().find("roles.admin"), std::string::npos) << typo.log();
}

// Raw HTTP for what jitctl never sends.
std::string rawHttp(const std::string& socketPath, const std::string& request) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::strcpy(sa.sun_path, socketPath.c_str());
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) return "connect failed";
  size_t off = 0;
  while (off < request.size()) {
    ssize_t n = ::send(fd, request.data() + off, request.size() - off, MSG_NOSIGNAL);
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
  ::shutdown(fd, SHUT_WR);
  std::string reply;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) reply.append(buf, n);
  ::close(fd);
  return reply;
}

TEST_F(ControlSocketTest, MalformedHttpIsRefusedAndTheDaemonCarriesOn) {
  auto d = startDaemon();
  std::string big(100 * 1024, 'x');
  auto r = rawHttp(socket_, "POST /v1/targets HTTP/1.1\r\nHost: x\r\nContent-Length: " +
                                std::to_string(big.size()) + "\r\n\r\n" + big);
  EXPECT_EQ(r.rfind("HTTP/1.1 413", 0), 0u) << r.substr(0, 200);
  r = rawHttp(socket_, "GET /v1/status HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(16000, 'a') +
                           "\r\n\r\n");
  EXPECT_EQ(r.rfind("HTTP/1.1 431", 0), 0u) << r.substr(0, 200);
  r = rawHttp(socket_, "NONSENSE\r\n\r\n");
  EXPECT_EQ(r.rfind("HTTP/1.1 400", 0), 0u) << r.substr(0, 200);
  r = rawHttp(socket_,
              "POST /v1/targets HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
              "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
  EXPECT_EQ(r.rfind("HTTP/1.1 400", 0), 0u) << r.substr(0, 200);
  r = rawHttp(socket_, "GET /v1/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(r.rfind("HTTP/1.1 200", 0), 0u) << r.substr(0, 200);
  auto audit = jitctl({"audit", "--csv"}).out;
  EXPECT_NE(audit.find("larger than 64 KiB"), std::string::npos);
}

// A real second (and third) Unix user, created and removed by the test.
class UnixUser {
 public:
  UnixUser(const std::string& name, const std::string& group) : name_(name) {
    std::string cmd = "useradd -M -N -g " + group + " -s /usr/sbin/nologin " + name;
    created_ = std::system(cmd.c_str()) == 0;
    if (passwd* pw = ::getpwnam(name.c_str())) {
      uid_ = pw->pw_uid;
      gid_ = pw->pw_gid;
    }
  }
  ~UnixUser() {
    if (created_) std::system(("userdel " + name_ + " 2>/dev/null").c_str());
  }
  bool ok() const { return created_; }
  testing::RunAs as() const { return {uid_, gid_}; }

 private:
  std::string name_;
  bool created_ = false;
  uid_t uid_ = 0;
  gid_t gid_ = 0;
};

class UnixGroup {
 public:
  explicit UnixGroup(const std::string& name) : name_(name) {
    created_ = std::system(("groupadd " + name).c_str()) == 0;
  }
  ~UnixGroup() {
    if (created_) std::system(("groupdel " + name_ + " 2>/dev/null").c_str());
  }
  bool ok() const { return created_; }

 private:
  std::string name_;
  bool created_ = false;
};

TEST_F(ControlSocketTest, RolesFromPeerCredentialsOfRealUsers) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to create users";
  std::string tag = std::to_string(std::random_device{}() % 100000);
  std::string group = "jgt" + tag, requester = "jgtreq" + tag, outsider = "jgtout" + tag;
  UnixGroup g(group);
  ASSERT_TRUE(g.ok());
  UnixUser req(requester, group), out(outsider, group);
  ASSERT_TRUE(req.ok() && out.ok());
  std::ofstream(dir_ / "jitgate.toml") << "control_socket_group = \"" << group << "\"\n"
                                       << "[roles]\nrequesters = [\"" << requester << "\"]\n";
  auto d = startDaemon({"--config", dir_ / "jitgate.toml"});
  struct stat st {};
  ASSERT_EQ(::lstat(socket_.c_str(), &st), 0);
  EXPECT_EQ(st.st_gid, ::getgrnam(group.c_str())->gr_gid);
  enroll();

  // The requester may ask for itself, and nothing more.
  auto who = jitctl({"--json", "whoami"}, req.as());
  ASSERT_EQ(who.exitCode, 0) << who.err;
  EXPECT_NE(who.out.find("requester"), std::string::npos);
  auto asked = jitctl({"request", "vm1", "--port", "22", "--from", "10.2.3.4", "--for", "30m",
                       "--justification", "on call"},
                      req.as());
  ASSERT_EQ(asked.exitCode, 0) << asked.err;
  EXPECT_EQ(trim(asked.out).rfind("r-", 0), 0u);
  // Two halves of IPv4 would add up to all of it: a requester's source must
  // be at least the policy's minimum prefix (/24 by default).
  for (const char* half : {"0.0.0.0/1", "128.0.0.0/1"}) {
    auto wide = jitctl({"request", "vm1", "--port", "22", "--from", half, "--for", "30m",
                        "--justification", "on call"},
                       req.as());
    EXPECT_EQ(wide.exitCode, 1) << half;
    EXPECT_NE(wide.err.find(std::string(half) +
                            " is wider than a request may ask for on 'vm1': at least /24 for IPv4"),
              std::string::npos)
        << wide.err;
  }
  auto forbidden = jitctl(
      {"grant", requester, "vm1", "--port", "22", "--from", "10.0.0.0/8", "--for", "1h"}, req.as());
  EXPECT_EQ(forbidden.exitCode, 1);
  EXPECT_NE(forbidden.err.find("may not"), std::string::npos) << forbidden.err;
  EXPECT_EQ(jitctl({"audit"}, req.as()).exitCode, 1);
  ASSERT_EQ(jitctl({"grant", "alice", "vm1", "--port", "22", "--from", "10.0.0.0/8", "--for", "1h"})
                .exitCode,
            0);
  auto mine = jitctl({"--json", "grants"}, req.as());
  ASSERT_EQ(mine.exitCode, 0);
  auto list = json::parse(mine.out).as_array();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].at("user").as_string(), requester);

  // A user with socket access but no role gets nothing but whoami.
  auto status = jitctl({"status"}, out.as());
  EXPECT_EQ(status.exitCode, 1);
  EXPECT_NE(status.err.find("may not"), std::string::npos) << status.err;
  EXPECT_EQ(jitctl({"whoami"}, out.as()).exitCode, 0);

  // Every refusal is in the audit log under the caller's name.
  auto audit = jitctl({"audit", "--csv"}).out;
  EXPECT_NE(audit.find(requester + ",grant.create,denied"), std::string::npos) << audit;
  EXPECT_NE(audit.find(outsider + ",control.status,denied"), std::string::npos) << audit;
}

// A child running as another uid that opens `n` control connections, asks
// whoami on each, reports each answer's status code and holds them open
// until released (or until 30 s pass).
class ConnectionHolder {
 public:
  ConnectionHolder(const std::string& socketPath, testing::RunAs as, int n) {
    int report[2], release[2];
    if (::pipe(report) != 0 || ::pipe(release) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::close(report[0]);
      ::close(release[1]);
      if (::setgroups(0, nullptr) != 0 || ::setgid(as.gid) != 0 || ::setuid(as.uid) != 0)
        ::_exit(126);
      std::vector<int> held;
      for (int i = 0; i < n; ++i) {
        int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
        sockaddr_un sa{};
        sa.sun_family = AF_UNIX;
        std::strcpy(sa.sun_path, socketPath.c_str());
        std::string code = "000";
        if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0) {
          const char req[] = "GET /v1/whoami HTTP/1.1\r\nHost: x\r\n\r\n";
          (void)!::send(fd, req, sizeof req - 1, MSG_NOSIGNAL);
          timeval tv{5, 0};
          ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
          char buf[4096];
          ssize_t got = ::read(fd, buf, sizeof buf);
          if (got >= 12) code.assign(buf + 9, 3);
        }
        held.push_back(fd);
        (void)!::write(report[1], code.data(), 3);
      }
      pollfd p{release[0], POLLIN, 0};
      ::poll(&p, 1, 30000);
      ::_exit(0);
    }
    ::close(report[1]);
    ::close(release[0]);
    release_ = release[1];
    for (int i = 0; i < n; ++i) {
      char code[3];
      if (::read(report[0], code, 3) != 3) break;
      codes_.emplace_back(code, 3);
    }
    ::close(report[0]);
  }
  ~ConnectionHolder() {
    if (release_ >= 0) ::close(release_);
    if (pid_ > 0) ::waitpid(pid_, nullptr, 0);
  }
  const std::vector<std::string>& codes() const { return codes_; }
  int count(const std::string& code) const {
    return static_cast<int>(std::count(codes_.begin(), codes_.end(), code));
  }

 private:
  pid_t pid_ = -1;
  int release_ = -1;
  std::vector<std::string> codes_;
};

TEST_F(ControlSocketTest, ARequesterHoldingConnectionsDoesNotStopAnAdmin) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to create users";
  std::string tag = std::to_string(std::random_device{}() % 100000);
  std::string group = "jgl" + tag;
  UnixGroup g(group);
  ASSERT_TRUE(g.ok());
  UnixUser first("jglreq" + tag, group), second("jglreb" + tag, group);
  ASSERT_TRUE(first.ok() && second.ok());
  std::ofstream(dir_ / "jitgate.toml")
      << "control_socket_group = \"" << group << "\"\n"
      << "[roles]\nrequesters = [\"jglreq" << tag << "\", \"jglreb" << tag << "\"]\n"
      << "[control]\nmax_connections = 12\nmax_connections_per_uid = 6\nadmin_reserve = 4\n";
  auto d = startDaemon({"--config", dir_ / "jitgate.toml"});
  enroll();
  ASSERT_EQ(jitctl({"grant", "alice", "vm1", "--port", "22", "--from", "10.0.0.0/8", "--for", "1h"})
                .exitCode,
            0);

  // One uid: six served, the rest refused at once with the limit named.
  ConnectionHolder a(socket_, first.as(), 6 + 30);
  ASSERT_EQ(a.codes().size(), 36u);
  EXPECT_EQ(a.count("200"), 6);
  EXPECT_EQ(a.count("503"), 30);
  // Another non-admin: served until only the admins' reserve is left.
  ConnectionHolder b(socket_, second.as(), 3);
  ASSERT_EQ(b.codes().size(), 3u);
  EXPECT_EQ(b.count("200"), 2);
  EXPECT_EQ(b.codes().back(), "503");
  auto refused = jitctl({"whoami"}, second.as());
  EXPECT_EQ(refused.exitCode, 1);
  EXPECT_NE(refused.err.find("kept for admins (control.admin_reserve)"), std::string::npos)
      << refused.err;

  // Root revokes through the reserve.
  auto grants = jitctlJson({"grants"}).as_array();
  ASSERT_EQ(grants.size(), 1u);
  auto revoke = jitctl({"revoke", std::string(grants[0].at("id").as_string())});
  EXPECT_EQ(revoke.exitCode, 0) << revoke.err;

  // 32 refusals: some audited one by one, the rest in a summary; none lost.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  auto audit = jitctlJson({"audit"}).as_array();
  int oneByOne = 0, summarized = 0;
  for (const auto& e : audit) {
    if (e.at("action").as_string() != "control.refused") continue;
    std::string detail(e.at("detail").as_string());
    if (detail.rfind("reason=connection_limit: ", 0) == 0) {
      ++oneByOne;
    } else if (auto at = detail.find(" control connections refused not recorded one by one");
               at != std::string::npos) {
      summarized += std::stoi(detail.substr(0, at));
      EXPECT_NE(detail.find("reason=connection_limit"), std::string::npos) << detail;
    }
  }
  EXPECT_GE(oneByOne, 10);
  EXPECT_LT(oneByOne, 32);
  EXPECT_EQ(oneByOne + summarized, 32);
}

}  // namespace
}  // namespace jitgate
