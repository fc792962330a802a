// The bastion's command interface (docs/SSH.md): what a jitgate user types
// after `ssh -p PORT alice@bastion`, tokenised, checked verb by verb, and
// carried out through the control API's own operations as that user (so
// that the rules, the role checks and the audit are the control socket's).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "jitgate/control_api.hpp"
#include "jitgate/net.hpp"
#include "jitgate/result.hpp"
#include "jitgate/roles.hpp"

namespace jitgate {

inline constexpr size_t kMaxCommandLine = 4096;
inline constexpr size_t kMaxCommandWords = 64;

// Splits a command line into words as a POSIX shell would, without any
// expansion: blanks separate words; '...' is literal; "..." takes \" and \\;
// a backslash outside quotes takes the next character. Refused: control
// characters, an unterminated quote, a trailing backslash, more than
// kMaxCommandLine bytes or kMaxCommandWords words.
Result<std::vector<std::string>> tokenizeCommand(std::string_view line);

// Who is asking: the jitgate user the SSH front authenticated.
struct ShellUser {
  std::string name;
  Roles roles;
  IpAddress source;  // the SSH connection's address ("my IP")
};

// One command's answer, as an exec channel carries it.
struct ShellAnswer {
  std::string out;
  std::string err;
  int exitStatus = 0;  // 0 done, 1 refused by the engine, 2 malformed
};

class BastionShell {
 public:
  explicit BastionShell(ControlApi& api) : api_(api) {}

  // Runs one command line. Every command is audited (bastion.command, the
  // user as actor); what it changes is audited by the engine as well.
  ShellAnswer run(const ShellUser& user, std::string_view line);
  // The verbs and their usage, one per line.
  static std::string help();

 private:
  ControlApi& api_;
};

}  // namespace jitgate
