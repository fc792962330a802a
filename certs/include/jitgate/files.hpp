// Writing files whole or not at all (keys, KRLs, certificates handed out).
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

#include "jitgate/result.hpp"

namespace jitgate {

// Writes `data` to `path` through a new temporary file beside it (O_EXCL,
// never following a link), with `mode`, fsync, rename over `path`, and an
// fsync of the directory. A reader sees the old file or the new one.
Status writeFileAtomically(const std::string& path, std::string_view data, mode_t mode);

}  // namespace jitgate
