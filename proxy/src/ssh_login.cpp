#include "jitgate/proxy/ssh_login.hpp"

#include "jitgate/model.hpp"
#include "jitgate/text.hpp"

namespace jitgate {

Result<SshLogin> parseSshLogin(std::string_view text) {
  if (text.empty()) return invalid("user", "the user name is empty");
  if (text.size() > kMaxSshLoginLength)
    return invalid("user", "the user name is longer than " + std::to_string(kMaxSshLoginLength) +
                               " characters");
  for (unsigned char c : text)
    if (c < 0x20 || c == 0x7f)
      return invalid("user",
                     "the user name '" + printable(text, 64) + "' contains a control character");
  auto at = text.find('@');
  SshLogin login;
  login.user = std::string(text.substr(0, at));
  if (at != std::string_view::npos) {
    login.target = std::string(text.substr(at + 1));
    if (login.target.find('@') != std::string::npos)
      return invalid("user",
                     "'" + printable(text, 64) + "' has more than one '@' (use USER@TARGET)");
    if (auto st = validateName(login.target, "target"); !st)
      return invalid("user",
                     "target '" + printable(login.target, 64) + "': " + st.refusal().message);
  }
  if (auto st = validateName(login.user, "user"); !st)
    return invalid("user", "user '" + printable(login.user, 64) + "': " + st.refusal().message);
  return login;
}

}  // namespace jitgate
