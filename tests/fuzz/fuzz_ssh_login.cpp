// The SSH user name a client sends before it is authenticated.
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "jitgate/proxy/ssh_login.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto login = jitgate::parseSshLogin(text);
  if (login) {
    // Whatever passes is a name the rest of the system can take as it is.
    if (login->user.empty() || login->user.size() > 64 || login->target.size() > 64)
      __builtin_trap();
    for (char c : login->user + login->target)
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-'))
        __builtin_trap();
  } else {
    for (unsigned char c : login.refusal().message)
      if (c < 0x20 || c == 0x7f) __builtin_trap();
  }
  return 0;
}
