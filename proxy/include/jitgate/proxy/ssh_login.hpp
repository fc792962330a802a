// The SSH user name a client sends to the bastion: "alice" (forwarding only:
// -J, -L) or "alice@vm1" (a shell on vm1 through the bastion's own hop).
#pragma once

#include <string>
#include <string_view>

#include "jitgate/result.hpp"

namespace jitgate {

struct SshLogin {
  std::string user;
  std::string target;  // empty: forwarding only
};

inline constexpr size_t kMaxSshLoginLength = 130;  // two names of 64 and the '@'

// Each part follows the name rule (1..64 of [A-Za-z0-9._-]); control
// characters, NUL, spaces, more than one '@' and oversized names are refused.
Result<SshLogin> parseSshLogin(std::string_view text);

}  // namespace jitgate
