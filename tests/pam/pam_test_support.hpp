// What the PAM tests share: a libpam handle that is always ended, and the
// jitgate-cutoff watchdogs found in /proc (argv[0] is this build's helper).
#pragma once

#include <dirent.h>
#include <security/pam_appl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "../support/process.hpp"

namespace jitgate::testing {

// Writes a file as the test (root) owns it, with exactly `mode`.
inline void writeFileWithMode(const std::string& path, const std::string& content, mode_t mode) {
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << content;
    if (!out) throw std::runtime_error("cannot write " + path);
  }
  if (::chmod(path.c_str(), mode) != 0) throw std::runtime_error("chmod " + path);
}

// The module never prompts: a conversation is a failure.
inline int refuseConversation(int, const pam_message**, pam_response**, void*) {
  return PAM_CONV_ERR;
}

// One pam_start_confdir .. pam_end, with the module's service file read
// from `confdir` rather than /etc/pam.d.
class PamHandle {
 public:
  PamHandle(const std::string& confdir, const std::string& service, const std::string& user) {
    started_ = pam_start_confdir(service.c_str(), user.c_str(), &conv_, confdir.c_str(), &h_);
    if (started_ != PAM_SUCCESS) h_ = nullptr;
  }
  ~PamHandle() { end(); }
  PamHandle(const PamHandle&) = delete;
  PamHandle& operator=(const PamHandle&) = delete;

  int started() const { return started_; }
  int setRhost(const std::string& rhost) { return pam_set_item(h_, PAM_RHOST, rhost.c_str()); }
  int setAuthInfo(const std::string& info) {
    return pam_putenv(h_, ("SSH_AUTH_INFO_0=" + info).c_str());
  }
  int openSession() { return last_ = pam_open_session(h_, 0); }
  int closeSession() { return last_ = pam_close_session(h_, 0); }
  int account() { return last_ = pam_acct_mgmt(h_, 0); }
  int authenticate() { return last_ = pam_authenticate(h_, 0); }
  // Runs the modules' data cleanups (the cutoff pipe closes here at the latest).
  void end() {
    if (h_) pam_end(h_, last_);
    h_ = nullptr;
  }
  const char* describe(int rc) const { return pam_strerror(h_, rc); }

 private:
  pam_conv conv_{refuseConversation, nullptr};
  pam_handle_t* h_ = nullptr;
  int started_ = PAM_SYSTEM_ERR;
  int last_ = PAM_SUCCESS;
};

struct Watchdog {
  pid_t pid = 0;
  pid_t ppid = 0;
  pid_t pgrp = 0;
  pid_t sid = 0;
  std::string cmdline;  // NULs as spaces, with a trailing space

  // The helper detaches by fork, setsid, fork: for a moment after
  // pam_open_session returns, the intermediate processes (same argv) may
  // still be there. The watchdog proper is the grandchild, in the session
  // its parent made.
  // Just after posix_spawn, still in the dynamic loader, the helper is in
  // its spawner's session, whose leader is its parent: not settled either.
  bool settled() const { return sid != pid && pgrp == sid && sid != ::getsid(0) && ppid != sid; }
};

// Live (not zombie) processes of this build's jitgate-cutoff; with
// `session`, only the one watching that session process.
inline std::vector<Watchdog> cutoffWatchdogs(std::optional<pid_t> session = std::nullopt) {
  std::vector<Watchdog> found;
  std::string prefix = std::string(CUTOFF_PATH) + " ";
  std::string pidArg = session ? " --pid " + std::to_string(*session) + " " : "";
  DIR* proc = ::opendir("/proc");
  if (!proc) return found;
  while (dirent* e = ::readdir(proc)) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (pid <= 0 || *end != '\0') continue;
    std::string dir = "/proc/" + std::string(e->d_name);
    std::string cmdline = slurp(dir + "/cmdline");
    for (auto& c : cmdline)
      if (c == '\0') c = ' ';
    if (cmdline.rfind(prefix, 0) != 0) continue;
    if (session && cmdline.find(pidArg) == std::string::npos) continue;
    std::string stat = slurp(dir + "/stat");
    auto close = stat.rfind(')');
    if (close == std::string::npos) continue;
    char state = 0;
    int ppid = 0, pgrp = 0, sid = 0;
    if (std::sscanf(stat.c_str() + close + 1, " %c %d %d %d", &state, &ppid, &pgrp, &sid) != 4 ||
        state == 'Z')
      continue;
    found.push_back({static_cast<pid_t>(pid), ppid, pgrp, sid, cmdline});
  }
  ::closedir(proc);
  return found;
}

// The one watchdog of `session`, once the helper has detached; nullopt if
// none settles within `timeout` or more than one is left.
inline std::optional<Watchdog> waitForWatchdog(pid_t session, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto dogs = cutoffWatchdogs(session);
    if (dogs.size() == 1 && dogs[0].settled()) return dogs[0];
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

// True once no watchdog (for `session`, if given) is left.
inline bool waitWatchdogsGone(std::optional<pid_t> session, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (cutoffWatchdogs(session).empty()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

// The fds a process holds, as their /proc/PID/fd link targets by number.
inline std::vector<std::pair<int, std::string>> openFds(pid_t pid) {
  std::vector<std::pair<int, std::string>> fds;
  std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  DIR* d = ::opendir(dir.c_str());
  if (!d) return fds;
  while (dirent* e = ::readdir(d)) {
    char* end = nullptr;
    long fd = std::strtol(e->d_name, &end, 10);
    if (e->d_name[0] == '.' || *end != '\0') continue;
    char target[512];
    ssize_t n = ::readlink((dir + "/" + e->d_name).c_str(), target, sizeof target - 1);
    fds.emplace_back(static_cast<int>(fd),
                     n > 0 ? std::string(target, static_cast<size_t>(n)) : "");
  }
  ::closedir(d);
  return fds;
}

}  // namespace jitgate::testing
