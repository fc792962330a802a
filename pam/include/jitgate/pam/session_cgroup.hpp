// The cgroup (v2) that holds every process of one login, so that the cutoff
// reaches what left the session's process tree (setsid plus a double fork):
// cgroup membership is inherited and only root can move a process out.
// Shared by pam_jitgate (which puts the session in it) and jitgate-cutoff
// (which ends it); plain C++ and the kernel's files, no other library.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace jitgate::pam {

struct SessionCgroup {
  std::string path;      // absolute directory under the cgroup2 mount
  std::string returnTo;  // where the session process came from (ours only)
  bool ours = false;     // made by us (else systemd-logind's session scope)
};

// The cgroup2 mount point, from /proc/self/mountinfo ("" when none).
std::string cgroup2Mount();
// The absolute directory of pid's v2 cgroup ("0::/path" in /proc/PID/cgroup),
// under `mount`; "" when it cannot be read.
std::string cgroupDirOf(pid_t pid, const std::string& mount);
// True for a systemd-logind session scope (".../session-N.scope").
bool isLogindScope(const std::string& dir);

// Chooses the login's cgroup for `sessionPid`: its logind scope when it is
// in one, else a new "<its own cgroup>/jitgate/session-<pid>" (created
// here, 0755 root). The process is not moved yet (enter()). False with
// `why` when there is no usable cgroup v2.
bool prepareSessionCgroup(pid_t sessionPid, SessionCgroup& out, std::string& why);
// Moves `pid` into the cgroup (a no-op for a logind scope it is already in).
bool enterSessionCgroup(const SessionCgroup& c, pid_t pid, std::string& why);
// Moves `pid` back where it came from (ours only): what is left in the
// cgroup after that was started by the login and detached from it.
bool leaveSessionCgroup(const SessionCgroup& c, pid_t pid, std::string& why);

// Every process in `dir` and the cgroups below it.
std::vector<pid_t> cgroupProcesses(const std::string& dir);
// False once no process is left in `dir` or below it (or it is gone).
bool cgroupPopulated(const std::string& dir);
// Sends `sig` to every process in `dir` and below but the caller; returns
// how many were signalled.
size_t signalCgroup(const std::string& dir, int sig);
// Kills everything in `dir` and below: cgroup.kill when the caller is not
// inside it (kernel 5.14+), else SIGKILL rounds; then waits (up to
// `waitMs`) until it is empty. True once empty (but for the caller).
bool killCgroup(const std::string& dir, int waitMs);
// Removes `dir` and the (empty) cgroups below it, deepest first.
bool removeCgroup(const std::string& dir);

}  // namespace jitgate::pam
