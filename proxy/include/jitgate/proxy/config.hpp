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
  // Certificate authority.
  std::string caSshAlgorithm = "ed25519";  // ed25519, ecdsa-p256, rsa-3072 (for a new key)
  std::string caUpnDomain = "jitgate";     // UPN SAN domain of X.509 client certificates
};

// Reads a TOML file. Unknown keys and wrong types are refused (a typo in a
// security setting must not silently fall back to a default).
Result<DaemonConfig> loadConfig(const std::string& path);

}  // namespace jitgate
