// The file-transfer commands that are audited, not recorded
// (transfer_command.hpp).
#include "jitgate/recording/transfer_command.hpp"

#include <string>
#include <vector>

namespace jitgate {
namespace {

// What scp and rsync send as their remote commands and file names, and
// nothing a shell gives meaning to.
bool wordCharacter(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("-_./+=:,@%").find(c) != std::string_view::npos;
}

}  // namespace

bool fileTransferCommand(std::string_view command) {
  if (command.empty() || command.size() > 4096) return false;
  std::vector<std::string_view> words;
  size_t i = 0;
  while (i < command.size()) {
    if (command[i] == ' ') {
      ++i;
      continue;
    }
    size_t start = i;
    while (i < command.size() && command[i] != ' ') {
      if (!wordCharacter(command[i])) return false;
      ++i;
    }
    words.push_back(command.substr(start, i - start));
  }
  if (words.empty()) return false;
  // The names OpenSSH's scp and rsync send, or their Debian paths: not a
  // program of any name or directory the user may have put there.
  std::string_view program = words[0];
  if (program == "/usr/bin/scp") program = "scp";
  if (program == "/usr/bin/rsync") program = "rsync";
  auto has = [&](std::string_view w) {
    for (size_t k = 1; k < words.size(); ++k)
      if (words[k] == w) return true;
    return false;
  };
  if (program == "scp") return has("-t") || has("-f");
  if (program == "rsync") return has("--server");
  return false;
}

}  // namespace jitgate
