// Strict JSON input: parseJsonObject's refusals (shape, duplicates, depth,
// size, UTF-8) and ObjectReader's typed, field-naming reads.
#include "jitgate/json_input.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>
#include <string_view>

#include "../support/refusals.hpp"

namespace jitgate {
namespace {

namespace json = boost::json;

using testing::refused;

constexpr auto kInvalid = RefusalCode::InvalidArgument;

json::object obj(std::string_view text) {
  auto r = parseJsonObject(text);
  EXPECT_TRUE(r.ok()) << text << ": " << (r.ok() ? "" : r.refusal().describe());
  return r.ok() ? *r : json::object{};
}

std::string nested(int depth) {
  std::string s;
  for (int i = 0; i < depth; ++i) s += "{\"a\":";
  s += "1";
  for (int i = 0; i < depth; ++i) s += "}";
  return s;
}

// --- parseJsonObject ------------------------------------------------------------

TEST(ParseJsonObject, AcceptsAnObject) {
  auto o = obj(R"({"name": "web1", "port": 22, "tags": ["a", "b"], "x": {"y": null}})");
  EXPECT_EQ(o.size(), 4u);
  EXPECT_EQ(o.at("name").as_string(), "web1");
  EXPECT_EQ(obj("{}").size(), 0u);
  EXPECT_EQ(obj("  {}\n").size(), 0u);
}

TEST(ParseJsonObject, RefusesMalformed) {
  for (const char* t : {"{", "{\"a\":", "{\"a\" 1}", "{\"a\":1,}", "{a:1}", "{'a':1}",
                        "{\"a\":1} x", "{}{}", "{\"a\":01}", "{\"a\":tru}", "{\"a\":NaN}",
                        "{\"a\":\"\x01\"}", "{\"a\":1 // c\n}", "{\"a\":\"\\x41\"}"})
    EXPECT_TRUE(refused(parseJsonObject(t), kInvalid, "body", "malformed JSON")) << t;
}

TEST(ParseJsonObject, RefusesEmpty) {
  EXPECT_TRUE(refused(parseJsonObject(""), kInvalid, "body", "malformed JSON"));
  EXPECT_TRUE(refused(parseJsonObject("   "), kInvalid, "body", "malformed JSON"));
}

TEST(ParseJsonObject, RefusesAnythingButAnObjectAtTheTop) {
  for (const char* t : {"[]", "[{\"a\":1}]", "\"s\"", "1", "null", "true"})
    EXPECT_TRUE(refused(parseJsonObject(t), kInvalid, "body", "expected a JSON object")) << t;
}

TEST(ParseJsonObject, RefusesDuplicateKeysNamingThem) {
  EXPECT_TRUE(refused(parseJsonObject(R"({"port": 22, "port": 23})"), kInvalid, "body",
                      "duplicate key 'port'"));
  EXPECT_TRUE(refused(parseJsonObject(R"({"x": {"b": 1, "c": 2, "b": 3}})"), kInvalid, "body",
                      "duplicate key 'b'"));
  EXPECT_TRUE(refused(parseJsonObject(R"({"ports": [{"number": 1}, {"number": 2, "number": 3}]})"),
                      kInvalid, "body", "duplicate key 'number'"));
  // The same key once escaped is still the same key.
  EXPECT_TRUE(refused(parseJsonObject(R"({"user": "a", "\u0075ser": "root"})"), kInvalid, "body",
                      "duplicate key 'user'"));
}

TEST(ParseJsonObject, SameKeyInDifferentObjectsIsFine) {
  auto o = obj(R"({"a": {"a": 1}, "b": {"a": 2}, "p": [{"a": 1}, {"a": 2}]})");
  EXPECT_EQ(o.size(), 3u);
  // A key read after a nested object closes is checked against its own object.
  auto o2 = obj(R"({"x": {"y": 1}, "y": 2})");
  EXPECT_EQ(o2.at("y").as_int64(), 2);
}

TEST(ParseJsonObject, DuplicateKeyNameIsQuotedShort) {
  std::string k(200, 'k');
  auto r = parseJsonObject("{\"" + k + "\":1,\"" + k + "\":2}");
  ASSERT_TRUE(refused(r, kInvalid, "body", "duplicate key '" + std::string(64, 'k') + "'"));
  EXPECT_LT(r.refusal().message.size(), 100u) << r.refusal().message;
}

TEST(ParseJsonObject, RefusesKeysLongerThan256Bytes) {
  EXPECT_TRUE(obj("{\"" + std::string(256, 'k') + "\":1}").size() == 1u);
  EXPECT_TRUE(refused(parseJsonObject("{\"" + std::string(257, 'k') + "\":1}"), kInvalid, "body",
                      "malformed JSON"));
}

TEST(ParseJsonObject, DepthLimitIsEight) {
  // Boost.JSON's own max_depth fires first ("malformed JSON: too deep"), so
  // the message is checked for "deep" only.
  EXPECT_EQ(obj(nested(8)).size(), 1u);
  EXPECT_TRUE(refused(parseJsonObject(nested(9)), kInvalid, "body", "deep"));
  EXPECT_TRUE(refused(parseJsonObject(nested(10000)), kInvalid, "body", "deep"));
  // Arrays count as levels too.
  EXPECT_TRUE(refused(parseJsonObject("{\"a\":[[[[[[[[1]]]]]]]]}"), kInvalid, "body", "deep"));
  EXPECT_TRUE(parseJsonObject("{\"a\":[[[[[[[1]]]]]]]}").ok());
}

TEST(ParseJsonObject, RefusesInvalidUtf8) {
  for (std::string_view t : {
           std::string_view("{\"a\":\"\xff\"}"),
           std::string_view("{\"a\":\"\xc0\xaf\"}"),      // overlong
           std::string_view("{\"a\":\"\xed\xa0\x80\"}"),  // surrogate
           std::string_view("{\"a\":\"\xe2\x82\"}"),      // truncated
           std::string_view("{\"\xff\":1}"),              // in a key
       })
    EXPECT_TRUE(refused(parseJsonObject(t), kInvalid, "body", "not valid UTF-8 at byte"))
        << ::testing::PrintToString(std::string(t));
  // The place, escaped as docs/CONTROL_API.md promises.
  EXPECT_TRUE(refused(parseJsonObject("{\"user\":\"al\xff\"}"), kInvalid, "body",
                      "not valid UTF-8 at byte 11: ...{\"user\":\"al\\xff\"}..."));
  // An escape that is no character is Boost.JSON's to refuse.
  EXPECT_TRUE(refused(parseJsonObject("{\"a\":\"\\ud800\"}"), kInvalid, "body", "malformed JSON"));
  EXPECT_TRUE(parseJsonObject("{\"a\":\"caf\xc3\xa9 \\ud83d\\ude00\"}").ok());
}

TEST(ParseJsonObject, SizeLimitIs64KiB) {
  std::string head = "{\"a\":\"", tail = "\"}";
  std::string fits = head + std::string(kMaxJsonBody - head.size() - tail.size(), 'x') + tail;
  ASSERT_EQ(fits.size(), kMaxJsonBody);
  EXPECT_TRUE(parseJsonObject(fits).ok());
  std::string over = head + std::string(kMaxJsonBody - head.size() - tail.size() + 1, 'x') + tail;
  EXPECT_TRUE(refused(parseJsonObject(over), kInvalid, "body", "larger than 64 KiB"));
  // Whitespace counts too.
  EXPECT_TRUE(refused(parseJsonObject("{}" + std::string(kMaxJsonBody, ' ')), kInvalid, "body",
                      "larger than 64 KiB"));
}

TEST(ParseJsonObject, HugeNumbersParseAsNonIntegers) {
  // 1e400 overflows a double (Boost.JSON reads it as infinity) and
  // 99999999999999999999 an integer: both parse, and both are refused where an
  // integer is read (ObjectReaderInt, below).
  auto a = obj(R"({"n": 1e400})");
  EXPECT_TRUE(a.at("n").is_double());
  auto b = obj(R"({"n": 99999999999999999999})");
  EXPECT_TRUE(b.at("n").is_double());
  auto c = obj(R"({"n": 18446744073709551615})");
  EXPECT_TRUE(c.at("n").is_uint64());
}

// --- ObjectReader: strings -------------------------------------------------------

TEST(ObjectReaderString, ReadsAndDefaults) {
  auto o = obj(R"({"s": "hello", "n": null})");
  ObjectReader r(o);
  EXPECT_EQ(r.requiredString("s").value(), "hello");
  EXPECT_EQ(r.optionalString("n").value(), std::nullopt);
  EXPECT_EQ(r.optionalString("absent").value(), std::nullopt);
  EXPECT_TRUE(r.finish().ok());
}

TEST(ObjectReaderString, RequiredRefusesAbsentAndNull) {
  auto o = obj(R"({"n": null})");
  ObjectReader r(o);
  EXPECT_TRUE(refused(r.requiredString("name"), kInvalid, "name", "is required"));
  EXPECT_TRUE(refused(r.requiredString("n"), kInvalid, "n", "is required"));
}

TEST(ObjectReaderString, RefusesWrongTypesNamingThem) {
  auto o = obj(R"({"i": 1, "d": 1.5, "b": true, "a": [], "o": {}})");
  ObjectReader r(o);
  EXPECT_TRUE(refused(r.requiredString("i"), kInvalid, "i", "must be a string, not a number"));
  EXPECT_TRUE(refused(r.requiredString("d"), kInvalid, "d", "not a number"));
  EXPECT_TRUE(refused(r.requiredString("b"), kInvalid, "b", "not a boolean"));
  EXPECT_TRUE(refused(r.optionalString("a"), kInvalid, "a", "not an array"));
  EXPECT_TRUE(refused(r.optionalString("o"), kInvalid, "o", "not an object"));
}

TEST(ObjectReaderString, RefusesNul) {
  auto o = obj(R"({"s": "a\u0000b"})");
  ObjectReader r(o);
  EXPECT_TRUE(refused(r.requiredString("s"), kInvalid, "s", "must not contain NUL"));
}

TEST(ObjectReaderString, MaxLenCountsBytes) {
  auto o = obj(R"({"s": "abc", "e": "é"})");
  ObjectReader r(o);
  EXPECT_EQ(r.requiredString("s", 3).value(), "abc");
  EXPECT_TRUE(refused(r.requiredString("s", 2), kInvalid, "s", "longer than 2 bytes"));
  EXPECT_TRUE(refused(r.requiredString("e", 1), kInvalid, "e", "longer than 1 bytes"));
}

// --- ObjectReader: integers --------------------------------------------------------

TEST(ObjectReaderInt, ReadsInRange) {
  auto o = obj(R"({"p": 22, "lo": 1, "hi": 65535, "n": null})");
  ObjectReader r(o);
  EXPECT_EQ(r.requiredInt("p", 1, 65535).value(), 22);
  EXPECT_EQ(r.requiredInt("lo", 1, 65535).value(), 1);
  EXPECT_EQ(r.requiredInt("hi", 1, 65535).value(), 65535);
  EXPECT_EQ(r.optionalInt("n", 1, 65535).value(), std::nullopt);
  EXPECT_EQ(r.optionalInt("absent", 1, 65535).value(), std::nullopt);
  EXPECT_TRUE(r.finish().ok());
}

TEST(ObjectReaderInt, RefusesOutOfRange) {
  auto o = obj(R"({"zero": 0, "big": 65536, "neg": -1})");
  ObjectReader r(o);
  EXPECT_TRUE(refused(r.requiredInt("zero", 1, 65535), kInvalid, "zero", "must be 1..65535"));
  EXPECT_TRUE(refused(r.requiredInt("big", 1, 65535), kInvalid, "big", "must be 1..65535"));
  EXPECT_TRUE(refused(r.optionalInt("neg", 1, 65535), kInvalid, "neg", "must be 1..65535"));
}

TEST(ObjectReaderInt, RefusesNonIntegersAndHugeNumbersNamingTheField) {
  auto o = obj(R"({"f": 22.5, "w": 22.0, "e": 2.2e1, "inf": 1e400, "ninf": -1e400,
                   "big": 99999999999999999999, "u": 18446744073709551615})");
  ObjectReader r(o);
  for (const char* k : {"f", "w", "e", "inf", "ninf", "big", "u"})
    EXPECT_TRUE(refused(r.optionalInt(k, 1, 65535), kInvalid, k, "1..65535")) << k;
}

TEST(ObjectReaderInt, RefusesWrongTypes) {
  auto o = obj(R"({"s": "22", "b": true, "a": [22], "o": {"n": 22}})");
  ObjectReader r(o);
  EXPECT_TRUE(
      refused(r.requiredInt("s", 1, 65535), kInvalid, "s", "must be a number, not a string"));
  EXPECT_TRUE(refused(r.requiredInt("b", 1, 65535), kInvalid, "b", "not a boolean"));
  EXPECT_TRUE(refused(r.requiredInt("a", 1, 65535), kInvalid, "a", "not an array"));
  EXPECT_TRUE(refused(r.requiredInt("o", 1, 65535), kInvalid, "o", "not an object"));
  EXPECT_TRUE(refused(r.requiredInt("absent", 1, 65535), kInvalid, "absent", "is required"));
}

// --- ObjectReader: booleans, arrays --------------------------------------------------

TEST(ObjectReaderBool, ReadsAndRefuses) {
  auto o = obj(R"({"t": true, "f": false, "s": "true", "i": 1, "n": null})");
  ObjectReader r(o);
  EXPECT_EQ(r.optionalBool("t").value(), true);
  EXPECT_EQ(r.optionalBool("f").value(), false);
  EXPECT_EQ(r.optionalBool("n").value(), std::nullopt);
  EXPECT_TRUE(refused(r.optionalBool("s"), kInvalid, "s", "must be true or false, not a string"));
  EXPECT_TRUE(refused(r.optionalBool("i"), kInvalid, "i", "not a number"));
}

TEST(ObjectReaderStrings, ReadsArrays) {
  auto o = obj(R"({"a": ["x", "y"], "e": [], "n": null})");
  ObjectReader r(o);
  EXPECT_EQ(r.optionalStrings("a", 4).value(), (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(r.optionalStrings("e", 4).value(), std::vector<std::string>{});
  EXPECT_EQ(r.optionalStrings("n", 4).value(), std::nullopt);
}

TEST(ObjectReaderStrings, RefusesNamingTheItem) {
  auto o = obj(R"({"s": "x", "mixed": ["x", 5], "many": ["a", "b", "c"], "long": ["abcd"]})");
  ObjectReader r(o);
  EXPECT_TRUE(refused(r.optionalStrings("s", 4), kInvalid, "s", "must be an array of strings"));
  EXPECT_TRUE(refused(r.optionalStrings("mixed", 4), kInvalid, "mixed[1]",
                      "must be a string, not a number"));
  EXPECT_TRUE(refused(r.optionalStrings("many", 2), kInvalid, "many", "at most 2 items"));
  EXPECT_TRUE(refused(r.optionalStrings("long", 4, 3), kInvalid, "long[0]", "longer than 3 bytes"));
}

// As optionalString: a NUL would cut the text short in any C API it reaches.
TEST(ObjectReaderStrings, RefusesNulInAnItem) {
  auto o = obj(R"({"a": ["ok", "x\u0000y"]})");
  ObjectReader r(o);
  EXPECT_TRUE(refused(r.optionalStrings("a", 4), kInvalid, "a[1]", "must not contain NUL"));
}

TEST(ObjectReaderObjects, ReadsAndRefuses) {
  auto o = obj(R"({"p": [{"n": 1}, {"n": 2}], "bad": [{"n": 1}, 2], "s": "x",
                   "many": [{}, {}, {}]})");
  ObjectReader r(o);
  auto p = r.optionalObjects("p", 4);
  ASSERT_TRUE(p.ok()) << p.refusal().describe();
  ASSERT_TRUE(p->has_value());
  ASSERT_EQ((*p)->size(), 2u);
  EXPECT_EQ((*p)->at(1)->at("n").as_int64(), 2);
  EXPECT_TRUE(refused(r.optionalObjects("bad", 4), kInvalid, "bad[1]", "must be an object"));
  EXPECT_TRUE(refused(r.optionalObjects("s", 4), kInvalid, "s", "must be an array of objects"));
  EXPECT_TRUE(refused(r.optionalObjects("many", 2), kInvalid, "many", "at most 2 items"));
  EXPECT_EQ(r.optionalObjects("absent", 2).value(), std::nullopt);
}

// --- ObjectReader: finish and prefixes --------------------------------------------------

TEST(ObjectReaderFinish, RefusesUnknownFieldNamingIt) {
  auto o = obj(R"({"name": "a", "nmae": "b"})");
  ObjectReader r(o);
  ASSERT_TRUE(r.requiredString("name").ok());
  EXPECT_TRUE(refused(r.finish(), kInvalid, "nmae", "unknown field"));
}

TEST(ObjectReaderFinish, NullUnknownFieldIsStillUnknown) {
  auto o = obj(R"({"extra": null})");
  ObjectReader r(o);
  EXPECT_TRUE(refused(r.finish(), kInvalid, "extra", "unknown field"));
}

TEST(ObjectReaderFinish, FieldsReadAsNullOrWithErrorsCountAsKnown) {
  auto o = obj(R"({"a": null, "b": "x"})");
  ObjectReader r(o);
  EXPECT_EQ(r.optionalString("a").value(), std::nullopt);
  EXPECT_FALSE(r.optionalInt("b", 0, 1).ok());
  EXPECT_TRUE(r.finish().ok());
}

TEST(ObjectReaderFinish, LongUnknownFieldNameIsCut) {
  std::string k(200, 'z');
  auto o = obj("{\"" + k + "\": 1}");
  ObjectReader r(o);
  auto st = r.finish();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.refusal().field, std::string(64, 'z'));
}

TEST(ObjectReaderPrefix, NamesNestedFields) {
  auto o = obj(R"({"ports": [{"number": "22", "extra": 1}]})");
  ObjectReader top(o);
  auto ports = top.optionalObjects("ports", 4);
  ASSERT_TRUE(ports.ok() && ports->has_value());
  ObjectReader pr(*(**ports)[0], "ports[0].");
  EXPECT_EQ(pr.field("number"), "ports[0].number");
  EXPECT_TRUE(
      refused(pr.requiredInt("number", 1, 65535), kInvalid, "ports[0].number", "not a string"));
  EXPECT_TRUE(refused(pr.requiredString("source"), kInvalid, "ports[0].source", "is required"));
  EXPECT_TRUE(refused(pr.finish(), kInvalid, "ports[0].extra", "unknown field"));
  EXPECT_TRUE(top.finish().ok());
}

}  // namespace
}  // namespace jitgate
