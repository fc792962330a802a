// Running the real binaries from tests: a command with captured output, and
// a daemon that is always stopped when the test ends.
#pragma once

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace jitgate::testing {

struct RunResult {
  int exitCode = -1;
  std::string out;
  std::string err;
};

struct RunAs {
  uid_t uid;
  gid_t gid;
};

inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// In a forked child: says on stderr (already redirected) why `what` failed,
// with strerror(errno), and exits with `code`. Only write(2): no allocation
// between fork and exec.
[[noreturn]] inline void childFailed(const char* what, const char* arg, int code) {
  const char* why = std::strerror(errno);
  auto put = [](const char* s) { (void)!::write(2, s, std::strlen(s)); };
  put("test child: ");
  put(what);
  put(" ");
  put(arg);
  put(": ");
  put(why);
  put("\n");
  ::_exit(code);
}

// In a forked child: execs argv, or says why it could not and exits 127.
[[noreturn]] inline void execOrExplain(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  ::execv(args[0], args.data());
  childFailed("cannot exec", args[0], 127);
}

// Runs argv[0] with argv, stdout/stderr to files in `scratch`, and waits.
inline RunResult run(const std::vector<std::string>& argv, const std::string& scratch,
                     std::optional<RunAs> as = std::nullopt,
                     const std::vector<std::string>& env = {}) {
  static int counter = 0;
  std::string outPath = scratch + "/out." + std::to_string(++counter);
  std::string errPath = outPath + ".err";
  pid_t pid = ::fork();
  if (pid == 0) {
    int o = ::open(outPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int e = ::open(errPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int nul = ::open("/dev/null", O_RDONLY);
    ::dup2(nul, 0);
    ::dup2(o, 1);
    ::dup2(e, 2);
    if (as) {
      if (::setgroups(0, nullptr) != 0 || ::setgid(as->gid) != 0 || ::setuid(as->uid) != 0)
        childFailed("cannot switch to the test user for", argv[0].c_str(), 126);
    }
    for (const auto& kv : env) ::putenv(const_cast<char*>(kv.c_str()));
    execOrExplain(argv);
  }
  RunResult r;
  int status = 0;
  ::waitpid(pid, &status, 0);
  r.exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = slurp(outPath);
  r.err = slurp(errPath);
  ::unlink(outPath.c_str());
  ::unlink(errPath.c_str());
  return r;
}

// jitgated started with the given arguments; waits for its "ready" line.
class Daemon {
 public:
  Daemon(const std::string& bin, std::vector<std::string> args, const std::string& logPath)
      : logPath_(logPath), logStart_(slurp(logPath).size()) {
    // The fronts' defaults listen on every address at fixed ports; a test
    // daemon listens on loopback only, on ports the kernel picks.
    if (bin.size() >= 8 && bin.compare(bin.size() - 8, 8, "jitgated") == 0) {
      for (const char* flag :
           {"--ssh-listen", "--winrm-http-listen", "--winrm-https-listen", "--metrics-listen"}) {
        if (std::find(args.begin(), args.end(), flag) == args.end()) {
          args.push_back(flag);
          args.push_back("127.0.0.1:0");
        }
      }
    }
    pid_ = ::fork();
    if (pid_ == 0) {
      int log = ::open(logPath.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      int nul = ::open("/dev/null", O_RDONLY);
      ::dup2(nul, 0);
      ::dup2(log, 1);
      ::dup2(log, 2);
      std::vector<std::string> argv{bin};
      argv.insert(argv.end(), args.begin(), args.end());
      execOrExplain(argv);
    }
  }
  ~Daemon() { stop(); }
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // True once the log says ready; false if the process died or 10 s passed.
  bool waitReady() {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      if (log().find("jitgated ready") != std::string::npos) return true;
      int status;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        exitStatus_ = status;
        pid_ = -1;
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }
  // Waits for the process to exit on its own (for start-up refusals).
  int waitExit() {
    if (pid_ > 0) {
      int status = 0;
      ::waitpid(pid_, &status, 0);
      exitStatus_ = status;
      pid_ = -1;
    }
    return WIFEXITED(exitStatus_) ? WEXITSTATUS(exitStatus_) : 128 + WTERMSIG(exitStatus_);
  }
  void kill9() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 250; ++i) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    kill9();
  }
  // What this process logged (the file may hold earlier runs too).
  std::string log() const { return slurp(logPath_).substr(logStart_); }
  pid_t pid() const { return pid_; }

 private:
  std::string logPath_;
  size_t logStart_ = 0;
  pid_t pid_ = -1;
  int exitStatus_ = 0;
};

// Another user may not be able to reach the build tree (a clone under /root,
// mode 0700): a program run as that user is copied into the test's own
// directory (which the test makes reachable) and run from there.
inline std::string reachableCopy(const std::string& program, const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  fs::path copy = dir / fs::path(program).filename();
  if (!fs::exists(copy)) {
    fs::copy_file(program, copy);
    fs::permissions(copy, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                              fs::perms::others_read | fs::perms::others_exec);
  }
  return copy;
}

}  // namespace jitgate::testing
