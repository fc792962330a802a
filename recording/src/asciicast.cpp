// Terminal bytes to asciicast v2 event lines (asciicast.hpp).
#include "jitgate/recording/asciicast.hpp"

#include <cstdio>

namespace jitgate {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";
constexpr char kHex[] = "0123456789abcdef";

bool plain(unsigned char c) { return c >= 0x20 && c < 0x7F && c != '"' && c != '\\'; }
bool continuation(unsigned char c) { return (c & 0xC0) == 0x80; }

// The length of the valid UTF-8 sequence at `p` (n bytes left): > 0 valid,
// 0 cut short (all that is there could start a valid one), -1 invalid.
int sequence(const unsigned char* p, size_t n) {
  unsigned char c = p[0];
  int len;
  unsigned char lo = 0x80, hi = 0xBF;  // the second byte's range
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;  // no surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return -1;
  }
  for (int i = 1; i < len; ++i) {
    if (static_cast<size_t>(i) >= n) return 0;
    if (i == 1 ? (p[1] < lo || p[1] > hi) : !continuation(p[i])) return -1;
  }
  return len;
}

void escapeControl(std::string& out, unsigned char c) {
  switch (c) {
    case '"':
      out += "\\\"";
      return;
    case '\\':
      out += "\\\\";
      return;
    case '\n':
      out += "\\n";
      return;
    case '\r':
      out += "\\r";
      return;
    case '\t':
      out += "\\t";
      return;
    case '\b':
      out += "\\b";
      return;
    default:
      out += "\\u00";
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
  }
}

void append(std::string& out, const unsigned char* p, size_t n, std::string& carry, bool final) {
  size_t i = 0;
  while (i < n) {
    size_t run = i;
    while (run < n && plain(p[run])) ++run;
    if (run > i) {
      out.append(reinterpret_cast<const char*>(p + i), run - i);
      i = run;
      continue;
    }
    unsigned char c = p[i];
    if (c < 0x80) {
      escapeControl(out, c);
      ++i;
      continue;
    }
    int len = sequence(p + i, n - i);
    if (len > 0) {
      out.append(reinterpret_cast<const char*>(p + i), static_cast<size_t>(len));
      i += static_cast<size_t>(len);
    } else if (len == 0 && !final) {
      carry.assign(reinterpret_cast<const char*>(p + i), n - i);
      return;
    } else {
      out += kReplacement;
      ++i;
    }
  }
}

}  // namespace

void appendJsonText(std::string& out, std::string_view bytes, std::string& carry, bool final) {
  if (!carry.empty()) {
    std::string joined = std::move(carry);
    carry.clear();
    joined.append(bytes);
    append(out, reinterpret_cast<const unsigned char*>(joined.data()), joined.size(), carry, final);
    return;
  }
  append(out, reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), carry, final);
}

std::string jsonString(std::string_view text) {
  std::string out = "\"", carry;
  appendJsonText(out, text, carry, true);
  out += '"';
  return out;
}

void appendEvent(std::string& out, double seconds, char type, std::string_view bytes,
                 std::string& carry) {
  char head[48];
  int n = std::snprintf(head, sizeof head, "[%.6f, \"%c\", \"", seconds, type);
  out.append(head, static_cast<size_t>(n));
  appendJsonText(out, bytes, carry);
  out += "\"]\n";
}

}  // namespace jitgate
