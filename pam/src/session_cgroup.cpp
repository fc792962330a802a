// The login's cgroup: found or made at session open, emptied at the cutoff
// (docs/PAM.md, "The cutoff"). Reads and writes the kernel's cgroup v2 files.
#include "jitgate/pam/session_cgroup.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>
#include <thread>

namespace jitgate::pam {
namespace {

bool writeText(const std::string& path, const std::string& text, std::string& why) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    why = path + ": " + std::strerror(errno);
    return false;
  }
  ssize_t n = ::write(fd, text.data(), text.size());
  int err = errno;
  ::close(fd);
  if (n != static_cast<ssize_t>(text.size())) {
    why = path + ": " + (n < 0 ? std::strerror(err) : "short write");
    return false;
  }
  return true;
}

bool isDirectory(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// The cgroups directly below `dir`.
std::vector<std::string> children(const std::string& dir) {
  std::vector<std::string> out;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name == "." || name == "..") continue;
      std::string path = dir + "/" + name;
      if (isDirectory(path)) out.push_back(path);
    }
    ::closedir(d);
  }
  return out;
}

bool inside(const std::string& dir, const std::string& candidate) {
  return candidate == dir ||
         (candidate.size() > dir.size() && candidate.compare(0, dir.size(), dir) == 0 &&
          candidate[dir.size()] == '/');
}

}  // namespace

std::string cgroup2Mount() {
  // "36 25 0:30 / /sys/fs/cgroup/unified rw,... - cgroup2 cgroup2 rw"
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    auto dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream tail(line.substr(dash + 3));
    std::string fstype;
    tail >> fstype;
    if (fstype != "cgroup2") continue;
    std::istringstream head(line.substr(0, dash));
    std::string id, parent, dev, root, mountPoint;
    head >> id >> parent >> dev >> root >> mountPoint;
    // A mount of a sub-tree would need the path arithmetic we do not do.
    if (root != "/" || mountPoint.empty() || mountPoint[0] != '/') continue;
    if (mountPoint.find('\\') != std::string::npos) continue;  // escaped characters
    return mountPoint;
  }
  return "";
}

std::string cgroupDirOf(pid_t pid, const std::string& mount) {
  if (mount.empty()) return "";
  std::ifstream in("/proc/" + std::to_string(pid) + "/cgroup");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("0::", 0) != 0) continue;
    std::string path = line.substr(3);
    if (path.empty() || path[0] != '/' || path.find("/..") != std::string::npos ||
        path.find(" (deleted)") != std::string::npos)
      return "";
    return path == "/" ? mount : mount + path;
  }
  return "";
}

bool isLogindScope(const std::string& dir) {
  auto slash = dir.rfind('/');
  std::string base = slash == std::string::npos ? dir : dir.substr(slash + 1);
  const std::string suffix = ".scope";
  return base.rfind("session-", 0) == 0 && base.size() > 8 + suffix.size() &&
         base.compare(base.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool prepareSessionCgroup(pid_t sessionPid, SessionCgroup& out, std::string& why) {
  std::string mount = cgroup2Mount();
  if (mount.empty()) {
    why = "no cgroup2 file system is mounted (/proc/self/mountinfo)";
    return false;
  }
  std::string own = cgroupDirOf(sessionPid, mount);
  if (own.empty() || !isDirectory(own)) {
    why = "cannot read the cgroup v2 of process " + std::to_string(sessionPid);
    return false;
  }
  if (isLogindScope(own)) {
    out = SessionCgroup{own, "", false};
    return true;
  }
  std::string parent = own + "/jitgate";
  // A watchdog removes the parent when its last session goes: once more
  // if that happened between the two mkdirs.
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (::mkdir(parent.c_str(), 0755) != 0 && errno != EEXIST) {
      why = parent + ": " + std::strerror(errno);
      return false;
    }
    timespec ts{};
    ::clock_gettime(CLOCK_REALTIME, &ts);
    std::string path = parent + "/session-" + std::to_string(sessionPid) + "-" +
                       std::to_string(ts.tv_sec) + std::to_string(ts.tv_nsec);
    if (::mkdir(path.c_str(), 0755) == 0) {
      out = SessionCgroup{path, own, true};
      return true;
    }
    why = path + ": " + std::strerror(errno);
    if (errno != ENOENT) return false;
  }
  return false;
}

bool enterSessionCgroup(const SessionCgroup& c, pid_t pid, std::string& why) {
  if (!c.ours) {
    if (cgroupDirOf(pid, cgroup2Mount()) == c.path) return true;
    why = "process " + std::to_string(pid) + " is not in " + c.path;
    return false;
  }
  return writeText(c.path + "/cgroup.procs", std::to_string(pid), why);
}

bool leaveSessionCgroup(const SessionCgroup& c, pid_t pid, std::string& why) {
  if (!c.ours || c.returnTo.empty()) return true;
  return writeText(c.returnTo + "/cgroup.procs", std::to_string(pid), why);
}

std::vector<pid_t> cgroupProcesses(const std::string& dir) {
  std::vector<pid_t> out;
  std::ifstream in(dir + "/cgroup.procs");
  long pid = 0;
  while (in >> pid)
    if (pid > 0) out.push_back(static_cast<pid_t>(pid));
  for (const auto& child : children(dir)) {
    auto more = cgroupProcesses(child);
    out.insert(out.end(), more.begin(), more.end());
  }
  return out;
}

bool cgroupPopulated(const std::string& dir) {
  std::ifstream in(dir + "/cgroup.events");
  std::string key;
  int value = 0;
  while (in >> key >> value)
    if (key == "populated") return value != 0;
  return false;
}

size_t signalCgroup(const std::string& dir, int sig) {
  size_t n = 0;
  for (pid_t pid : cgroupProcesses(dir))
    if (pid != ::getpid() && ::kill(pid, sig) == 0) ++n;
  return n;
}

bool killCgroup(const std::string& dir, int waitMs) {
  bool self = inside(dir, cgroupDirOf(::getpid(), cgroup2Mount()));
  std::string why;
  bool killed = !self && writeText(dir + "/cgroup.kill", "1", why);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(waitMs);
  for (;;) {
    // Without cgroup.kill (or from inside): SIGKILL rounds until nothing is
    // left; a process forked meanwhile is caught by the next round.
    if (!killed) signalCgroup(dir, SIGKILL);
    auto left = cgroupProcesses(dir);
    bool empty = left.empty() || (self && left.size() == 1 && left[0] == ::getpid());
    if (empty) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

bool removeCgroup(const std::string& dir) {
  for (const auto& child : children(dir)) removeCgroup(child);
  return ::rmdir(dir.c_str()) == 0 || errno == ENOENT;
}

}  // namespace jitgate::pam
