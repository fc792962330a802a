// Text from outside: well-formed UTF-8 without control characters, and a
// printable form of anything for messages, logs and records.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "jitgate/result.hpp"

namespace jitgate {

// 1..maxLen bytes of well-formed UTF-8 without control characters (C0, C1,
// line separators, bidi overrides); empty is refused when `required`.
Status validateText(std::string_view text, std::string_view field, size_t maxLen, bool required);

// The offset of the first byte that is not part of well-formed UTF-8
// (RFC 3629: no overlong forms, surrogates or code points past U+10FFFF).
std::optional<size_t> firstInvalidUtf8(std::string_view text);

// Text made safe to echo in messages and records: invalid UTF-8 and control
// characters become \xNN, and it is cut at maxLen bytes.
std::string printable(std::string_view text, size_t maxLen = 256);

}  // namespace jitgate
