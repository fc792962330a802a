// screen_search: text as the terminal showed it (libvterm), at the offset
// it appeared, once per appearance.
#include "jitgate/recording/screen_search.hpp"

#include <gtest/gtest.h>

#include "jitgate/recording/asciicast.hpp"

namespace jitgate {
namespace {

std::string cast(const std::vector<std::pair<double, std::string>>& output, int w = 80,
                 int h = 24) {
  std::string out = "{\"version\": 2, \"width\": " + std::to_string(w) +
                    ", \"height\": " + std::to_string(h) + "}\n";
  for (const auto& [t, bytes] : output) {
    std::string carry;
    appendEvent(out, t, 'o', bytes, carry);
  }
  return out;
}

std::vector<ScreenHit> find(const std::string& c, const std::string& needle) {
  std::vector<ScreenHit> hits;
  searchScreen(c, "s-0123456789abcdef-1", needle, 100, hits);
  return hits;
}

TEST(ScreenSearch, AWordEditedWithBackspaceIsFoundAsShown) {
  // Typed "secrex", erased the x (the tty echoes "\b \b"), typed "t".
  auto c = cast({{0.1, "$ "}, {1.0, "echo secre"}, {1.5, "x"}, {2.0, "\b \b"}, {2.5, "t"}});
  auto hits = find(c, "secret");
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_DOUBLE_EQ(hits[0].offset, 2.5);
  EXPECT_EQ(hits[0].row, 0);
  EXPECT_EQ(hits[0].line, "$ echo secret");
  EXPECT_EQ(hits[0].id, "s-0123456789abcdef-1");
  // The raw bytes never held "secret": the stream search would miss it.
  EXPECT_EQ(c.find("secret"), std::string::npos);
}

TEST(ScreenSearch, CaseInsensitiveAndCursorMovesCount) {
  // "HELLO" drawn backwards with cursor positioning.
  auto c = cast({{0.5, "\x1b[3;5HO\x1b[3;4HL\x1b[3;3HL\x1b[3;2HE\x1b[3;1HH"}});
  auto hits = find(c, "hello");
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].row, 2);
  EXPECT_EQ(hits[0].line, "HELLO");
}

TEST(ScreenSearch, ScrollingDoesNotRepeatAHitButANewLineIs) {
  std::string lines = "needle one\r\n";
  for (int i = 0; i < 30; ++i) lines += "filler " + std::to_string(i) + "\r\n";
  auto c = cast({{1.0, lines}, {2.0, "needle two\r\n"}}, 80, 5);
  auto hits = find(c, "needle");
  ASSERT_EQ(hits.size(), 2u) << (hits.empty() ? "" : hits[0].line);
  EXPECT_EQ(hits[0].line, "needle one");
  EXPECT_DOUBLE_EQ(hits[0].offset, 1.0);
  EXPECT_EQ(hits[1].line, "needle two");
  EXPECT_DOUBLE_EQ(hits[1].offset, 2.0);
}

TEST(ScreenSearch, ResizeEventsAndJunkLinesAreTakenInStride) {
  std::string c = cast({{0.5, "abc"}}, 10, 2);
  c += "not json\n[1.0, \"r\", \"100x30\"]\n[1.5, \"o\", \"\\r\\nwide enough for a long line "
       "here\"]\n[2.0, \"o\"\n";
  auto hits = find(c, "long line here");
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_DOUBLE_EQ(hits[0].offset, 1.5);
}

TEST(ScreenSearch, NoHeaderNoHits) {
  EXPECT_TRUE(find("garbage\n[1, \"o\", \"needle\"]\n", "needle").empty());
  EXPECT_TRUE(find(cast({{1, "needle"}}), "").empty());
}

}  // namespace
}  // namespace jitgate
