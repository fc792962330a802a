// jitctl's rendering: tables and fields as a terminal gets them, escaping of
// what other people typed, and answers of the wrong shape.
#include "jitgate/cli_render.hpp"

#include <gtest/gtest.h>

#include <sstream>

#include "jitgate/cli_call.hpp"

namespace jitgate::cli {
namespace {

TEST(CliRenderTest, TablesAlignColumnsAndMarkEmptyCells) {
  std::ostringstream out;
  printTable(out, {"NAME", "OS", "NOTE"}, {{"vm1", "", "first"}, {"long-name", "linux", ""}});
  EXPECT_EQ(out.str(),
            "NAME       OS     NOTE\n"
            "vm1        -      first\n"
            "long-name  linux  -\n");
}

TEST(CliRenderTest, TextOthersTypedIsEscapedAsTheApiEscapesIt) {
  EXPECT_EQ(shown("ok caf\xc3\xa9"), "ok caf\xc3\xa9");
  EXPECT_EQ(shown("\x1b]0;owned\x07"), "\\x1b]0;owned\\x07");
  EXPECT_EQ(shown("a\nb\tc"), "a\\x0ab\\x09c");
  EXPECT_EQ(shown("\xe2\x80\xae"
                  "evil"),
            "\\xe2\\x80\\xaeevil");  // bidi override
  EXPECT_EQ(shown("\xff"), "\\xff");
  EXPECT_EQ(shown(std::string(1000, 'a')), std::string(1000, 'a')) << "not cut";
  std::ostringstream out;
  printFields(out, {{"user", "eve\x1b[2J"}, {"groups", ""}});
  EXPECT_EQ(out.str(), "user:   eve\\x1b[2J\ngroups: -\n");
}

TEST(CliRenderTest, AnswersOfTheWrongShapeGiveBlankCells) {
  auto v = json::parse(R"({"name": 7, "keys": "x", "ok": "true", "list": [1, "a", true]})");
  EXPECT_EQ(text(v, "name"), "7");
  EXPECT_EQ(text(v, "missing"), "");
  EXPECT_TRUE(items(v, "keys").empty());
  EXPECT_FALSE(isTrue(v, "ok"));
  EXPECT_EQ(text(v, "list"), "1,a,yes");
  std::ostringstream out;
  EXPECT_EQ(renderGrants(out, json::parse(R"({"not": "an array"})")), 0);
  EXPECT_EQ(out.str(), "ID  USER  TARGET  PORT  SOURCE  START  END  STATE\n");
}

TEST(CliRenderTest, ADecidedRequestIsOneLine) {
  std::ostringstream out;
  renderDecided(out, json::parse(R"({"id": "r-1", "state": "denied", "reason": "no\nway"})"));
  EXPECT_EQ(out.str(), "request r-1 is denied (no\\x0away)\n");
}

TEST(CliRenderTest, WhoamiNamesNoRolesAsNone) {
  std::ostringstream out;
  renderWhoami(out,
               json::parse(R"({"user": "bob", "uid": 1001, "groups": ["a", "b"], "roles": []})"));
  EXPECT_EQ(out.str(), "user:   bob (uid 1001)\ngroups: a, b\nroles:  none\n");
}

// A listing's filters: those given, in order, percent-encoded in the target.
TEST(CliCallTest, FiltersLeaveOutWhatWasNotGiven) {
  Query q = filters({{"user", "alice"}, {"target", ""}, {"grant", "g 1&x"}});
  ASSERT_EQ(q.size(), 2u);
  EXPECT_EQ(q[0].first, "user");
  EXPECT_EQ(q[1].second, "g 1&x");
  EXPECT_EQ(apiTarget({"sessions"}, q), "/v1/sessions?user=alice&grant=g%201%26x");
  EXPECT_EQ(apiTarget({"sessions"}, filters({{"user", ""}})), "/v1/sessions");
}

}  // namespace
}  // namespace jitgate::cli
