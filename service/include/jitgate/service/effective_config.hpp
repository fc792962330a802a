// The settings jitgated runs with, after the file and the flags: printed by
// --check-config and compared key by key when a reload reads the file again.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "jitgate/proxy/config.hpp"
#include "jitgate/result.hpp"

namespace jitgate {

// One setting: its dotted key ("ssh.max_per_source") and its value as TOML.
struct Setting {
  std::string key;
  std::string value;
};

// Every setting, in the order README.md documents them.
std::vector<Setting> effectiveSettings(const DaemonConfig& c);
// The same as a TOML document that loadConfig reads back to the same config.
std::string effectiveConfigToml(const DaemonConfig& c);

// The control socket's group (control_socket_group), looked up.
Result<std::optional<gid_t>> controlSocketGid(const DaemonConfig& c);

// What start-up would refuse without touching the state: paths that must be
// absolute, a control socket group that must exist, TLS and CA files that
// must be readable.
Status checkDaemonConfig(const DaemonConfig& c);

}  // namespace jitgate
