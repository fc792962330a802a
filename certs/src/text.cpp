// Text from outside: checking it and making it safe to echo.
#include "jitgate/text.hpp"

#include <cstdint>

namespace jitgate {

namespace {

// Length of the well-formed UTF-8 sequence at text[i] and its code point, or
// 0 when the bytes there are not one.
size_t utf8Sequence(std::string_view text, size_t i, uint32_t& cp) {
  unsigned char c = text[i];
  size_t len;
  if (c < 0x80) {
    cp = c;
    return 1;
  } else if ((c & 0xe0) == 0xc0) {
    len = 2, cp = c & 0x1f;
  } else if ((c & 0xf0) == 0xe0) {
    len = 3, cp = c & 0x0f;
  } else if ((c & 0xf8) == 0xf0) {
    len = 4, cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + len > text.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    unsigned char cc = text[i + k];
    if ((cc & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (cc & 0x3f);
  }
  static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return len;
}

// C0, DEL, C1, line/paragraph separators and the bidi overrides and
// isolates, which can make a table or CSV cell read differently from what it
// holds.
bool isControl(uint32_t cp) {
  return cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0) || cp == 0x2028 || cp == 0x2029 ||
         (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) || cp == 0x200e ||
         cp == 0x200f;
}

}  // namespace

std::optional<size_t> firstInvalidUtf8(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    uint32_t cp;
    size_t len = utf8Sequence(text, i, cp);
    if (len == 0) return i;
    i += len;
  }
  return std::nullopt;
}

std::string printable(std::string_view text, size_t maxLen) {
  std::string out;
  size_t i = 0;
  while (i < text.size() && out.size() < maxLen) {
    uint32_t cp = 0;
    size_t len = utf8Sequence(text, i, cp);
    if (len == 0 || isControl(cp)) {
      static constexpr char kHex[] = "0123456789abcdef";
      for (size_t k = 0; k < (len ? len : 1); ++k) {
        unsigned char b = text[i + k];
        out += "\\x";
        out += kHex[b >> 4];
        out += kHex[b & 15];
      }
      i += len ? len : 1;
      continue;
    }
    out.append(text.substr(i, len));
    i += len;
  }
  if (i < text.size()) out += "...";
  return out;
}

Status validateText(std::string_view text, std::string_view field, size_t maxLen, bool required) {
  if (text.empty()) {
    if (required) return invalid(std::string(field), "is required");
    return okStatus();
  }
  if (text.size() > maxLen)
    return invalid(std::string(field), "longer than " + std::to_string(maxLen) + " bytes");
  // Well-formed UTF-8 without control characters: these land in tables, CSV
  // and terminals.
  size_t i = 0;
  while (i < text.size()) {
    uint32_t cp = 0;
    size_t len = utf8Sequence(text, i, cp);
    if (len == 0) return invalid(std::string(field), "is not valid UTF-8");
    if (isControl(cp)) return invalid(std::string(field), "must not contain control characters");
    i += len;
  }
  return okStatus();
}

}  // namespace jitgate
