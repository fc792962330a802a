// asciicast: terminal bytes become event lines asciinema can read: valid
// UTF-8 JSON whatever the bytes, sequences cut between reads kept whole.
#include "jitgate/recording/asciicast.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <random>

namespace jitgate {
namespace {

std::string text(std::string_view bytes) {
  std::string out, carry;
  appendJsonText(out, bytes, carry, true);
  return out;
}

TEST(Asciicast, EscapesControlsQuotesAndBackslashes) {
  EXPECT_EQ(text("a\"b\\c\r\n\t\b\x1b[0m\x7f"), "a\\\"b\\\\c\\r\\n\\t\\b\\u001b[0m\\u007f");
}

TEST(Asciicast, KeepsValidUtf8AndReplacesInvalidBytes) {
  EXPECT_EQ(text("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"),
            "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80");
  // A lone continuation byte, an overlong form, a surrogate, a byte past U+10FFFF.
  EXPECT_EQ(text("\x80"), "\xEF\xBF\xBD");
  EXPECT_EQ(text("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(text("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(text("\xF5\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST(Asciicast, ASequenceCutBetweenReadsIsKeptWhole) {
  std::string out, carry;
  appendJsonText(out, "x\xE2\x82", carry);
  EXPECT_EQ(out, "x");
  EXPECT_EQ(carry, "\xE2\x82");
  appendJsonText(out, "\xAC!", carry);
  EXPECT_EQ(out, "x\xE2\x82\xAC!");
  EXPECT_TRUE(carry.empty());
}

TEST(Asciicast, EventLinesParseAsJsonWithTheBytesBack) {
  std::string line, carry;
  appendEvent(line, 1.5, 'o', "hi \"there\"\r\n\x01", carry);
  ASSERT_EQ(line.back(), '\n');
  auto v = boost::json::parse(line);
  auto& a = v.as_array();
  EXPECT_DOUBLE_EQ(a[0].to_number<double>(), 1.5);
  EXPECT_EQ(a[1].as_string(), "o");
  EXPECT_EQ(a[2].as_string(), "hi \"there\"\r\n\x01");
}

TEST(Asciicast, EveryByteValueGivesValidJson) {
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  std::string line, carry;
  appendEvent(line, 0, 'o', all, carry);
  boost::system::error_code ec;
  boost::json::parse(line, ec);  // strict UTF-8
  EXPECT_FALSE(ec) << ec.message();
}

// The escaping as the format says it, a byte at a time, to hold the fast one
// (eight bytes at a time, escapes from a table) to.
std::string reference(std::string_view bytes) {
  std::string out;
  auto u = [&](size_t i) { return static_cast<unsigned char>(bytes[i]); };
  for (size_t i = 0; i < bytes.size();) {
    unsigned char c = u(i);
    if (c < 0x80) {
      const char* esc = c == '"'    ? "\\\""
                        : c == '\\' ? "\\\\"
                        : c == '\n' ? "\\n"
                        : c == '\r' ? "\\r"
                        : c == '\t' ? "\\t"
                        : c == '\b' ? "\\b"
                                    : nullptr;
      if (esc) {
        out += esc;
      } else if (c < 0x20 || c == 0x7F) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\u%04x", c);
        out += buf;
      } else {
        out += static_cast<char>(c);
      }
      ++i;
      continue;
    }
    // Decode one code point strictly; anything else is one U+FFFD per byte.
    size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 0;
    uint32_t cp = len == 4 ? c & 0x07 : len == 3 ? c & 0x0F : c & 0x1F;
    bool ok = len > 0 && i + len <= bytes.size();
    for (size_t k = 1; ok && k < len; ++k) {
      ok = (u(i + k) & 0xC0) == 0x80;
      cp = cp << 6 | (u(i + k) & 0x3F);
    }
    ok = ok && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF) &&
         cp >= (len == 2   ? 0x80u
                : len == 3 ? 0x800u
                           : 0x10000u);
    if (ok) {
      out.append(bytes.substr(i, len));
      i += len;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

TEST(Asciicast, TheFastEscapingGivesWhatTheFormatSaysForAnyBytes) {
  std::mt19937 rng(17);
  // Bytes drawn mostly from plain text, with controls, quotes, backslashes,
  // UTF-8 lead and continuation bytes, and runs of NUL.
  const std::string alphabet = std::string("abc xyz\"\\\r\n\x1b\x7f\x01", 15) +
                               "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\xED\xA0\xC0\xF5\xFF";
  for (int round = 0; round < 300; ++round) {
    std::string in;
    size_t n = rng() % 6000;
    for (size_t i = 0; i < n; ++i) {
      if (rng() % 50 == 0) in.append(rng() % 40, '\0');
      in += alphabet[rng() % alphabet.size()];
    }
    SCOPED_TRACE(round);
    ASSERT_EQ(text(in), reference(in));
    // Cut into reads anywhere: the same text, sequences kept whole.
    std::string out, carry;
    for (size_t at = 0; at < in.size();) {
      size_t len = std::min<size_t>(in.size() - at, 1 + rng() % 3000);
      appendJsonText(out, std::string_view(in).substr(at, len), carry);
      at += len;
    }
    appendJsonText(out, "", carry, true);
    EXPECT_TRUE(carry.empty());
    ASSERT_EQ(out, reference(in));
  }
}

TEST(Asciicast, EventTimesAreMicroseconds) {
  std::string line, carry;
  appendEvent(line, 0, 'o', "a", carry);
  appendEvent(line, 12.3456789, 'r', "80x24", carry);
  appendEvent(line, 3600.0000004, 'i', "", carry);
  EXPECT_EQ(line,
            "[0.000000, \"o\", \"a\"]\n[12.345679, \"r\", \"80x24\"]\n"
            "[3600.000000, \"i\", \"\"]\n");
}

}  // namespace
}  // namespace jitgate
