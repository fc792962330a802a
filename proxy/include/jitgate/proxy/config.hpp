// jitgated's configuration: a TOML file (every key documented in README.md),
// then command-line flags on top. No file gives a working daemon.
#pragma once

#include <optional>
#include <string>

#include "jitgate/result.hpp"
#include "jitgate/roles.hpp"

namespace jitgate {

struct DaemonConfig {
  std::string stateDir = "/var/lib/jitgate";
  std::string controlSocket = "/run/jitgate/control.sock";
  std::string controlSocketGroup;  // empty: the daemon's own group
  std::string logLevel = "info";
  RoleConfig roles;
};

// Reads a TOML file. Unknown keys and wrong types are refused (a typo in a
// security setting must not silently fall back to a default).
Result<DaemonConfig> loadConfig(const std::string& path);

}  // namespace jitgate
