// pam_jitgate.so: the C boundary. Parses the module arguments, calls the
// tested logic in module.cpp, logs every refusal with pam_syslog, returns
// exact PAM codes, and lets no C++ exception cross into the host.
#include <security/pam_ext.h>
#include <security/pam_modules.h>
#include <syslog.h>
#include <unistd.h>

#include <ctime>
#include <string>
#include <vector>

#include "jitgate/pam/module.hpp"
#include "jitgate/pam/session_cgroup.hpp"

namespace {

using jitgate::pam::ModuleArgs;
using jitgate::pam::SessionCgroup;

constexpr const char* kCutoffData = "jitgate_cutoff_fd";

// What an open session holds: the watchdog's pipe, and the cgroup the
// session process was put in.
struct Cutoff {
  jitgate::UniqueFd fd;
  pid_t sessionPid = 0;
  SessionCgroup cgroup;
};

const char* item(pam_handle_t* h, int type) {
  const void* v = nullptr;
  if (pam_get_item(h, type, &v) != PAM_SUCCESS || !v) return "";
  return static_cast<const char*>(v);
}

bool args(pam_handle_t* h, int argc, const char** argv, ModuleArgs& out) {
  std::vector<std::string> list(argv, argv + argc);
  auto parsed = jitgate::pam::parseArgs(list);
  if (!parsed) {
    pam_syslog(h, LOG_ERR, "misconfigured: %s", parsed.refusal().describe().c_str());
    return false;
  }
  out = *parsed;
  return true;
}

// PAM_USER, or null (logged) when there is none.
const char* user(pam_handle_t* h) {
  const char* u = nullptr;
  if (pam_get_user(h, &u, nullptr) != PAM_SUCCESS || !u || !*u) {
    pam_syslog(h, LOG_ERR, "denied: no user");
    return nullptr;
  }
  return u;
}

void closeCutoff(pam_handle_t* h, void* data, int) {
  auto* c = static_cast<Cutoff*>(data);
  if (!c) return;
  // The session process leaves the login's cgroup (only in the process that
  // put it there, not in a forked copy of the handle): what stays behind
  // is what the login detached, and the watchdog ends it at the window's
  // end. Then closing the pipe tells the watchdog the session is over.
  if (c->sessionPid == ::getpid()) {
    std::string why;
    if (!jitgate::pam::leaveSessionCgroup(c->cgroup, c->sessionPid, why) && h)
      pam_syslog(h, LOG_ERR, "cannot leave the session cgroup: %s", why.c_str());
  }
  delete c;  // closes the pipe's write end
}

int openSession(pam_handle_t* h, int argc, const char** argv) {
  ModuleArgs a;
  if (!args(h, argc, argv, a)) return PAM_SERVICE_ERR;
  const char* user = ::user(h);
  if (!user) return PAM_PERM_DENIED;
  const char* info = pam_getenv(h, "SSH_AUTH_INFO_0");
  auto verdict = jitgate::pam::checkCertificate(a, user, item(h, PAM_RHOST), info ? info : "",
                                                static_cast<int64_t>(::time(nullptr)));
  if (!verdict.allowed) {
    pam_syslog(h, LOG_NOTICE, "denied %s from %s: %s", user, item(h, PAM_RHOST),
               verdict.reason.c_str());
    return PAM_PERM_DENIED;
  }
  // Every process of the login goes in one cgroup (inherited, and only
  // root can move a process out), so that the cutoff reaches what setsid
  // and a double fork took out of the session's process tree.
  SessionCgroup cgroup;
  std::string why;
  bool inCgroup = jitgate::pam::prepareSessionCgroup(::getpid(), cgroup, why);
  if (!inCgroup) {
    if (a.cgroupRequired) {
      pam_syslog(h, LOG_ERR, "denied %s: no cgroup for the session (cgroup=required): %s", user,
                 why.c_str());
      return PAM_SESSION_ERR;
    }
    pam_syslog(h, LOG_WARNING,
               "session for %s without a cgroup (cgroup=optional): %s; processes detached "
               "from the session are not cut off",
               user, why.c_str());
  }
  // The watchdog starts outside the cgroup it will empty.
  auto fd = jitgate::pam::armCutoff(a, ::getpid(), verdict.validBefore, inCgroup ? cgroup.path : "",
                                    inCgroup && cgroup.ours);
  if (!fd) {
    // A session we cannot end on time is not opened.
    if (inCgroup && cgroup.ours) jitgate::pam::removeCgroup(cgroup.path);
    pam_syslog(h, LOG_ERR, "denied %s: cannot arm the cutoff: %s", user,
               fd.refusal().describe().c_str());
    return PAM_SESSION_ERR;
  }
  auto* stored = new Cutoff{std::move(*fd), ::getpid(), inCgroup ? cgroup : SessionCgroup{}};
  if (inCgroup && !jitgate::pam::enterSessionCgroup(cgroup, ::getpid(), why)) {
    closeCutoff(h, stored, 0);  // the watchdog removes the empty cgroup
    pam_syslog(h, LOG_ERR, "denied %s: cannot enter the session cgroup: %s", user, why.c_str());
    return PAM_SESSION_ERR;
  }
  if (pam_set_data(h, kCutoffData, stored, closeCutoff) != PAM_SUCCESS) {
    closeCutoff(h, stored, 0);
    pam_syslog(h, LOG_ERR, "denied %s: cannot keep the cutoff handle", user);
    return PAM_SESSION_ERR;
  }
  pam_syslog(h, LOG_INFO, "session for %s from %s: %s; cut off at the end", user,
             item(h, PAM_RHOST), verdict.reason.c_str());
  return PAM_SUCCESS;
}

int closeSession(pam_handle_t* h) {
  // Replacing the data runs the cleanup of the old value: the pipe closes
  // and the watchdog exits.
  pam_set_data(h, kCutoffData, nullptr, nullptr);
  return PAM_SUCCESS;
}

int account(pam_handle_t* h, int argc, const char** argv) {
  ModuleArgs a;
  if (!args(h, argc, argv, a)) return PAM_SERVICE_ERR;
  const char* user = ::user(h);
  if (!user) return PAM_PERM_DENIED;
  std::string rhost = item(h, PAM_RHOST);
  if (!a.onlineSocket.empty()) {
    if (rhost.empty()) {
      pam_syslog(h, LOG_NOTICE, "denied %s: no remote host (PAM_RHOST)", user);
      return PAM_PERM_DENIED;
    }
    auto v = jitgate::pam::checkOnline(a, user, rhost);
    if (!v.allowed) {
      pam_syslog(h, LOG_NOTICE, "denied %s from %s: %s", user, rhost.c_str(), v.reason.c_str());
      return PAM_PERM_DENIED;
    }
    if (a.debug)
      pam_syslog(h, LOG_DEBUG, "account %s from %s: %s", user, rhost.c_str(), v.reason.c_str());
  }
  // With sshd publickey-only logins SSH_AUTH_INFO_0 is empty here; when it
  // is present (publickey,keyboard-interactive) the certificate is checked
  // now too.
  const char* info = pam_getenv(h, "SSH_AUTH_INFO_0");
  if (info && *info) {
    auto v =
        jitgate::pam::checkCertificate(a, user, rhost, info, static_cast<int64_t>(::time(nullptr)));
    if (!v.allowed) {
      pam_syslog(h, LOG_NOTICE, "denied %s from %s: %s", user, rhost.c_str(), v.reason.c_str());
      return PAM_PERM_DENIED;
    }
    return PAM_SUCCESS;
  }
  if (!a.onlineSocket.empty() || a.deferAccount) return PAM_SUCCESS;
  pam_syslog(h, LOG_NOTICE,
             "denied %s: nothing to check in the account phase (give online=... or "
             "account=defer with the session line)",
             user);
  return PAM_PERM_DENIED;
}

template <class F>
int guarded(pam_handle_t* h, F&& f) {
  try {
    return f();
  } catch (const std::exception& e) {
    pam_syslog(h, LOG_ERR, "internal error: %s", e.what());
  } catch (...) {
    pam_syslog(h, LOG_ERR, "internal error");
  }
  return PAM_SERVICE_ERR;
}

}  // namespace

// Everything else is hidden (and the version script keeps it so).
#define JITGATE_PAM_EXPORT __attribute__((visibility("default")))

extern "C" {

JITGATE_PAM_EXPORT int pam_sm_open_session(pam_handle_t* h, int, int argc, const char** argv) {
  return guarded(h, [&] { return openSession(h, argc, argv); });
}

JITGATE_PAM_EXPORT int pam_sm_close_session(pam_handle_t* h, int, int, const char**) {
  return guarded(h, [&] { return closeSession(h); });
}

JITGATE_PAM_EXPORT int pam_sm_acct_mgmt(pam_handle_t* h, int, int argc, const char** argv) {
  return guarded(h, [&] { return account(h, argc, argv); });
}

// Not an authentication module: sshd's publickey logins never call it, and
// a stack that does must not pass because of us.
JITGATE_PAM_EXPORT int pam_sm_authenticate(pam_handle_t* h, int, int, const char**) {
  pam_syslog(h, LOG_ERR, "pam_jitgate is for the account and session stacks, not auth");
  return PAM_AUTH_ERR;
}

JITGATE_PAM_EXPORT int pam_sm_setcred(pam_handle_t*, int, int, const char**) { return PAM_SUCCESS; }

}  // extern "C"
