// What a reload (SIGHUP, `systemctl reload`) may change in a running daemon:
// the role lists and the log level. Everything else needs a restart, and the
// reload says which keys those are instead of half-applying them.
#pragma once

#include <string>
#include <vector>

#include "jitgate/proxy/config.hpp"

namespace jitgate {

struct ReloadPlan {
  DaemonConfig next;                     // the running config with the live changes applied
  std::vector<std::string> applied;      // keys that changed and take effect now
  std::vector<std::string> needRestart;  // keys that changed and wait for a restart
  bool changed() const { return !applied.empty() || !needRestart.empty(); }
  // "applied roles.admins, log_level; needs a restart: ssh.listen"
  std::string describe() const;
};

// Compares the running config with the one just read.
ReloadPlan planReload(const DaemonConfig& running, const DaemonConfig& reread);

}  // namespace jitgate
