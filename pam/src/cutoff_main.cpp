// jitgate-cutoff: the watchdog pam_jitgate starts at session open. Runs as
// root (the user's processes cannot signal it), detached from the session.
// At --until (UTC epoch seconds) it ends the session: SIGTERM to every
// process of the login's cgroup (--cgroup) and to the sshd session process
// and everything below it, SIGKILL --grace seconds later. If the pipe on
// --fd reaches end-of-file first (close_session, or the session process
// died), it stops at once when nothing of the login is left in the cgroup
// (or there is no cgroup), and otherwise still ends what is left at
// --until. A cgroup it owns (--owned 1) it removes once empty.
#include <dirent.h>
#include <linux/close_range.h>
#include <poll.h>
#include <signal.h>
#include <syslog.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "jitgate/pam/session_cgroup.hpp"

namespace {

bool number(const char* s, long long min, long long max, long long& out) {
  if (!s || !*s) return false;
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(s, &end, 10);
  if (errno || *end || v < min || v > max) return false;
  out = v;
  return true;
}

// Every process whose ancestry reaches `root`, and root itself.
std::set<pid_t> tree(pid_t root) {
  std::vector<std::pair<pid_t, pid_t>> parents;  // pid, ppid
  if (DIR* d = ::opendir("/proc")) {
    while (dirent* e = ::readdir(d)) {
      long long pid;
      if (!number(e->d_name, 1, 1 << 30, pid)) continue;
      std::ifstream stat("/proc/" + std::string(e->d_name) + "/stat");
      std::string line;
      if (!std::getline(stat, line)) continue;
      auto close = line.rfind(')');  // comm may hold spaces and parentheses
      if (close == std::string::npos) continue;
      char state;
      int ppid;
      if (std::sscanf(line.c_str() + close + 1, " %c %d", &state, &ppid) != 2) continue;
      parents.emplace_back(static_cast<pid_t>(pid), static_cast<pid_t>(ppid));
    }
    ::closedir(d);
  }
  std::set<pid_t> out{root};
  bool grew = true;
  while (grew) {
    grew = false;
    for (auto [pid, ppid] : parents)
      if (out.count(ppid) && out.insert(pid).second) grew = true;
  }
  return out;
}

void signalTree(pid_t root, int sig) {
  for (pid_t p : tree(root)) ::kill(p, sig);
}

// Processes of the login left in the cgroup, this watchdog aside (it runs
// inside a systemd-logind scope it watches).
bool othersLeft(const std::string& cgroup) {
  if (cgroup.empty()) return false;
  for (pid_t p : jitgate::pam::cgroupProcesses(cgroup))
    if (p != ::getpid()) return true;
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  long long pid = 0, until = 0, grace = 5, fd = -1, owned = 0;
  std::string cgroup;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    bool ok = (k == "--pid" && number(argv[i + 1], 2, 1 << 30, pid)) ||
              (k == "--until" && number(argv[i + 1], 0, 253402300799LL, until)) ||
              (k == "--grace" && number(argv[i + 1], 0, 3600, grace)) ||
              (k == "--fd" && number(argv[i + 1], 0, 1 << 20, fd)) ||
              (k == "--owned" && number(argv[i + 1], 0, 1, owned));
    if (k == "--cgroup") {
      cgroup = argv[i + 1];
      ok = !cgroup.empty() && cgroup[0] == '/' && cgroup.find("/..") == std::string::npos;
    }
    if (!ok) {
      std::fprintf(stderr, "jitgate-cutoff: bad argument %s\n", k.c_str());
      return 2;
    }
  }
  if (pid == 0 || fd < 0 || (argc != 9 && argc != 13) || (argc == 13 && cgroup.empty())) {
    std::fprintf(stderr,
                 "usage: jitgate-cutoff --pid PID --until EPOCH --grace S --fd N "
                 "[--cgroup DIR --owned 0|1]\n");
    return 2;
  }
  // Keep nothing the PAM host had open (a listening socket held by a root
  // watchdog for a whole session would be a leak): only stdio and the pipe.
  if (fd > 3) ::close_range(3, static_cast<unsigned>(fd - 1), 0);
  ::close_range(static_cast<unsigned>(fd + 1), ~0U, 0);
  // Detach: the first child exits at once so that the session's process
  // (which waits for it) never sees a stray child; the grandchild watches.
  pid_t c = ::fork();
  if (c < 0) return 1;
  if (c > 0) return 0;
  ::setsid();
  c = ::fork();
  if (c < 0) ::_exit(1);
  if (c > 0) ::_exit(0);
  ::openlog("jitgate-cutoff", LOG_PID, LOG_AUTHPRIV);
  auto done = [&]() {
    if (owned) {
      jitgate::pam::removeCgroup(cgroup);
      // The ".../jitgate" parent too, once no session is left in it (it
      // fails while one is: that is fine).
      ::rmdir(cgroup.substr(0, cgroup.rfind('/')).c_str());
    }
    return 0;
  };
  bool sessionClosed = false;
  for (;;) {
    time_t now = ::time(nullptr);
    if (now >= until) break;
    if (sessionClosed) {
      // What the login detached stays until the window's end, no longer.
      if (!othersLeft(cgroup)) return done();
      ::usleep(static_cast<useconds_t>(std::min<long long>(until - now, 1) * 1000000));
      continue;
    }
    // Wake at least once a minute: the deadline is wall-clock time.
    long long wait = std::min<long long>(until - now, 60) * 1000;
    pollfd p{static_cast<int>(fd), POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(wait));
    if (r > 0) {
      char b;
      if (::read(static_cast<int>(fd), &b, 1) <= 0) {
        if (cgroup.empty()) return 0;  // session closed; nothing else to watch
        sessionClosed = true;
      }
    } else if (r < 0 && errno != EINTR) {
      return 1;
    }
  }
  ::syslog(LOG_NOTICE, "session %lld: certificate window ended, cutting it off", pid);
  // The session's process tree only while it is open: once closed, its pid
  // may be another process's.
  if (!sessionClosed) signalTree(static_cast<pid_t>(pid), SIGTERM);
  jitgate::pam::signalCgroup(cgroup, SIGTERM);
  for (long long i = 0; i < grace * 10; ++i) {
    bool treeGone = sessionClosed || (::kill(static_cast<pid_t>(pid), 0) != 0 &&
                                      tree(static_cast<pid_t>(pid)).size() <= 1);
    if (treeGone && !othersLeft(cgroup)) return done();
    ::usleep(100000);
  }
  if (!sessionClosed) signalTree(static_cast<pid_t>(pid), SIGKILL);
  if (!cgroup.empty() && !jitgate::pam::killCgroup(cgroup, 5000))
    ::syslog(LOG_ERR, "session %lld: processes left in %s after SIGKILL", pid, cgroup.c_str());
  return done();
}
