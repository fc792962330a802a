// Terminal bytes to asciicast v2 event lines (asciicast.hpp).
#include "jitgate/recording/asciicast.hpp"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstring>

namespace jitgate {
namespace {

constexpr char kHex[] = "0123456789abcdef";

bool continuation(unsigned char c) { return (c & 0xC0) == 0x80; }

// What each byte below 0x80 becomes inside a JSON string: itself, or its
// escape (at most 6 bytes, kept in 8 so it is copied in one move).
struct Escapes {
  char text[128][8];
  unsigned char len[128];
  constexpr Escapes() : text(), len() {
    for (int c = 0; c < 128; ++c) {
      if (c >= 0x20 && c < 0x7F && c != '"' && c != '\\') {
        text[c][0] = static_cast<char>(c);
        len[c] = 1;
        continue;
      }
      char short_ = c == '"'    ? '"'
                    : c == '\\' ? '\\'
                    : c == '\n' ? 'n'
                    : c == '\r' ? 'r'
                    : c == '\t' ? 't'
                    : c == '\b' ? 'b'
                                : 0;
      text[c][0] = '\\';
      if (short_) {
        text[c][1] = short_;
        len[c] = 2;
      } else {
        text[c][1] = 'u';
        text[c][2] = '0';
        text[c][3] = '0';
        text[c][4] = kHex[c >> 4];
        text[c][5] = kHex[c & 0xF];
        len[c] = 6;
      }
    }
  }
};
constexpr Escapes kEscapes;

// Eight bytes at once: whether any of them is not plain printable ASCII
// (below 0x20, 0x7F or above, '"' or '\\').
bool anySpecial(uint64_t x) {
  constexpr uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
  auto hasZero = [&](uint64_t v) { return (v - ones) & ~v & highs; };
  uint64_t below = (x - ones * 0x20) & ~x & highs;
  return ((x | below) & highs) || hasZero(x ^ (ones * '"')) || hasZero(x ^ (ones * '\\')) ||
         hasZero(x ^ (ones * 0x7F));
}

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

// Escapes into a block on the stack, appended to `out` a block at a time: no
// per-byte growth of the string. A slice of kSlice input bytes (plus the rest
// of a sequence that starts in it) makes at most 6 bytes each.
constexpr size_t kSlice = 2048;
constexpr size_t kBlock = 6 * (kSlice + 4) + 16;

void append(std::string& out, const unsigned char* p, size_t n, std::string& carry, bool final) {
  char block[kBlock];
  size_t i = 0;
  while (i < n) {
    size_t sliceEnd = std::min(n, i + kSlice);
    char* w = block;
    while (i < sliceEnd) {
      unsigned char c = p[i];
      if (c < 0x80 && kEscapes.len[c] > 1) {  // an escape (runs of them stay here)
        std::memcpy(w, kEscapes.text[c], 8);
        w += kEscapes.len[c];
        ++i;
        continue;
      }
      if (c < 0x80) {  // plain ASCII: eight bytes at a time, then byte by byte
        while (i + 8 <= sliceEnd) {
          uint64_t x;
          std::memcpy(&x, p + i, 8);
          if (anySpecial(x)) break;
          std::memcpy(w, p + i, 8);
          w += 8;
          i += 8;
        }
        while (i < sliceEnd && p[i] < 0x80 && kEscapes.len[p[i]] == 1)
          *w++ = static_cast<char>(p[i++]);
        continue;
      }
      int len = sequence(p + i, n - i);
      if (len > 0) {
        std::memcpy(w, p + i, static_cast<size_t>(len));
        w += len;
        i += static_cast<size_t>(len);
      } else if (len == 0 && !final) {
        out.append(block, static_cast<size_t>(w - block));
        carry.assign(reinterpret_cast<const char*>(p + i), n - i);
        return;
      } else {
        std::memcpy(w, "\xEF\xBF\xBD", 3);  // U+FFFD
        w += 3;
        ++i;
      }
    }
    out.append(block, static_cast<size_t>(w - block));
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
  // "[S.UUUUUU, " with integer arithmetic: printf's %f costs more than the
  // event's text when events are small.
  auto micros = static_cast<int64_t>(seconds * 1e6 + 0.5);
  if (micros < 0) micros = 0;
  char head[48];
  char* w = head;
  *w++ = '[';
  w = std::to_chars(w, head + 24, micros / 1000000).ptr;
  *w++ = '.';
  auto frac = static_cast<int>(micros % 1000000);
  for (int d = 100000; d > 0; d /= 10) *w++ = static_cast<char>('0' + frac / d % 10);
  std::memcpy(w, ", \"", 3);
  w += 3;
  *w++ = type;
  std::memcpy(w, "\", \"", 4);
  w += 4;
  out.append(head, static_cast<size_t>(w - head));
  appendJsonText(out, bytes, carry);
  out += "\"]\n";
}

}  // namespace jitgate
