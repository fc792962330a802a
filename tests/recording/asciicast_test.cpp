// asciicast: terminal bytes become event lines asciinema can read: valid
// UTF-8 JSON whatever the bytes, sequences cut between reads kept whole.
#include "jitgate/recording/asciicast.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

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

}  // namespace
}  // namespace jitgate
