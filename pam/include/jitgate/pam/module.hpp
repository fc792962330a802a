// The logic of pam_jitgate.so, kept out of the C boundary so that it can be
// tested through the real libpam: module arguments, the certificate check
// at session open, the online grant check, and the cutoff watchdog.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "jitgate/result.hpp"
#include "jitgate/unique_fd.hpp"

namespace jitgate::pam {

struct ModuleArgs {
  std::string caKeysFile;    // ca=PATH: TrustedUserCAKeys-style file (required)
  std::string krlFile;       // krl=PATH: KRL; when given it must be readable
  std::string onlineSocket;  // online=PATH: jitgated control socket (account)
  std::string target;        // target=NAME: this host's target name (required)
  uint16_t port = 22;        // port=N: the port the grant must cover (with online)
  int timeoutMs = 2000;      // timeout=MS: for the online check
  bool failOpen = false;     // unreachable=allow: online check down lets in (default deny)
  int graceSeconds = 5;      // grace=N: SIGTERM at the end, SIGKILL N seconds later
  std::string cutoffHelper = JITGATE_CUTOFF_HELPER;  // cutoff=PATH
  bool deferAccount = false;  // account=defer: account without online leaves it to session
  // cgroup=required (default): a session that cannot be put in a cgroup of
  // its own is refused; cgroup=optional: it falls back to the process tree.
  bool cgroupRequired = true;
  bool debug = false;
};

Result<ModuleArgs> parseArgs(const std::vector<std::string>& argv);

struct Verdict {
  bool allowed = false;
  std::string reason;        // for syslog; names the failed check
  uint64_t validBefore = 0;  // when allowed: the certificate's end (epoch seconds)
};

// Session open: the certificate sshd took (SSH_AUTH_INFO_0) must verify
// against the CA, name "<user>@<target>", cover the client address, be inside its
// window and not be revoked.
Verdict checkCertificate(const ModuleArgs& args, const std::string& user, const std::string& rhost,
                         const std::string& authInfo, int64_t now);

// Account: asks jitgated (GET /v1/decision) whether an active grant covers
// (user, target, port, rhost), within the timeout. Unreachable: deny,
// unless the arguments say unreachable=allow.
Verdict checkOnline(const ModuleArgs& args, const std::string& user, const std::string& rhost);

// Starts the watchdog that ends the session at `validBefore`: the helper
// runs as root, detached, and watches a pipe whose write end this process
// keeps (close-on-exec). Closing it (close_session, or this process dying)
// tells the watchdog the session is over. With `cgroupDir` it ends every
// process in that cgroup at `validBefore` (those the login left behind
// too), and removes the cgroup once empty when `ownedCgroup`; without, the
// session process's tree, and it stops at once when the pipe closes.
// Returns the write end, or a refusal.
Result<UniqueFd> armCutoff(const ModuleArgs& args, pid_t sessionPid, uint64_t validBefore,
                           const std::string& cgroupDir = "", bool ownedCgroup = false);

}  // namespace jitgate::pam
