// Strict JSON reading for untrusted bodies (see json_input.hpp).
#include "jitgate/json_input.hpp"

#include <boost/json.hpp>
#include <boost/json/basic_parser_impl.hpp>

#include "jitgate/text.hpp"

namespace jitgate {
namespace {

namespace json = boost::json;
using boost::system::error_code;

constexpr int kMaxDepth = 8;

// A validating pass with Boost.JSON's SAX parser: Boost's DOM parser keeps
// the last of duplicate keys silently, and a later reader would then see a
// different value from an earlier one.
struct DuplicateKeyCheck {
  static constexpr std::size_t max_object_size = 1024;
  static constexpr std::size_t max_array_size = 4096;
  static constexpr std::size_t max_key_size = 256;
  static constexpr std::size_t max_string_size = kMaxJsonBody;

  std::vector<std::set<std::string>> objects;
  std::string key;
  std::string duplicate;
  int depth = 0;
  bool tooDeep = false;

  bool on_document_begin(error_code&) { return true; }
  bool on_document_end(error_code&) { return true; }
  bool enter(error_code& ec) {
    if (++depth > kMaxDepth) {
      tooDeep = true;
      ec = json::error::too_deep;
      return false;
    }
    return true;
  }
  bool on_array_begin(error_code& ec) { return enter(ec); }
  bool on_array_end(std::size_t, error_code&) {
    --depth;
    return true;
  }
  bool on_object_begin(error_code& ec) {
    objects.emplace_back();
    return enter(ec);
  }
  bool on_object_end(std::size_t, error_code&) {
    objects.pop_back();
    --depth;
    return true;
  }
  bool on_string_part(json::string_view, std::size_t, error_code&) { return true; }
  bool on_string(json::string_view, std::size_t, error_code&) { return true; }
  bool on_key_part(json::string_view s, std::size_t, error_code&) {
    key.append(s.data(), s.size());
    return true;
  }
  bool on_key(json::string_view s, std::size_t, error_code& ec) {
    key.append(s.data(), s.size());
    if (!objects.back().insert(key).second) {
      duplicate = key;
      ec = json::error::syntax;
      return false;
    }
    key.clear();
    return true;
  }
  bool on_number_part(json::string_view, error_code&) { return true; }
  bool on_int64(int64_t, json::string_view, error_code&) { return true; }
  bool on_uint64(uint64_t, json::string_view, error_code&) { return true; }
  bool on_double(double, json::string_view, error_code&) { return true; }
  bool on_bool(bool, error_code&) { return true; }
  bool on_null(error_code&) { return true; }
  bool on_comment_part(json::string_view, error_code&) { return true; }
  bool on_comment(json::string_view, error_code&) { return true; }
};

std::string jsonTypeName(const json::value& v) {
  switch (v.kind()) {
    case json::kind::null:
      return "null";
    case json::kind::bool_:
      return "a boolean";
    case json::kind::int64:
    case json::kind::uint64:
    case json::kind::double_:
      return "a number";
    case json::kind::string:
      return "a string";
    case json::kind::array:
      return "an array";
    case json::kind::object:
      return "an object";
  }
  return "a value";
}

}  // namespace

Result<json::object> parseJsonObject(std::string_view text) {
  if (text.size() > kMaxJsonBody) return invalid("body", "larger than 64 KiB");
  // Boost.JSON would say only "syntax error": name the place, escaped.
  if (auto at = firstInvalidUtf8(text)) {
    size_t from = *at > 16 ? *at - 16 : 0;
    return invalid("body", "not valid UTF-8 at byte " + std::to_string(*at) + ": ..." +
                               printable(text.substr(from, 32), 160) + "...");
  }
  json::parse_options opts;
  opts.max_depth = kMaxDepth;
  {
    json::basic_parser<DuplicateKeyCheck> check(opts);
    error_code ec;
    check.write_some(false, text.data(), text.size(), ec);
    if (!check.handler().duplicate.empty())
      return invalid("body", "duplicate key '" + check.handler().duplicate.substr(0, 64) + "'");
    if (check.handler().tooDeep || ec == json::error::too_deep)
      return invalid("body", "nested deeper than 8 levels");
    if (ec) return invalid("body", "malformed JSON: " + ec.message());
  }
  error_code ec;
  json::value v = json::parse(json::string_view(text.data(), text.size()), ec, {}, opts);
  if (ec) return invalid("body", "malformed JSON: " + ec.message());
  if (!v.is_object()) return invalid("body", "expected a JSON object");
  return std::move(v.as_object());
}

ObjectReader::ObjectReader(const json::object& o, std::string prefix)
    : o_(o), prefix_(std::move(prefix)) {}

const json::value* ObjectReader::get(std::string_view key) {
  read_.emplace(key);
  const json::value* v = o_.if_contains(json::string_view(key.data(), key.size()));
  if (v && v->is_null()) return nullptr;  // null reads as absent
  return v;
}

Result<std::string> ObjectReader::requiredString(std::string_view key, size_t maxLen) {
  auto r = optionalString(key, maxLen);
  if (!r) return r.refusal();
  if (!*r) return invalid(field(key), "is required");
  return std::move(**r);
}

Result<std::optional<std::string>> ObjectReader::optionalString(std::string_view key,
                                                                size_t maxLen) {
  const json::value* v = get(key);
  if (!v) return std::optional<std::string>();
  if (!v->is_string()) return invalid(field(key), "must be a string, not " + jsonTypeName(*v));
  const auto& s = v->as_string();
  if (s.size() > maxLen)
    return invalid(field(key), "longer than " + std::to_string(maxLen) + " bytes");
  if (std::string_view(s.data(), s.size()).find('\0') != std::string_view::npos)
    return invalid(field(key), "must not contain NUL");
  return std::optional<std::string>(std::string(s.data(), s.size()));
}

Result<std::optional<int64_t>> ObjectReader::optionalInt(std::string_view key, int64_t min,
                                                         int64_t max) {
  const json::value* v = get(key);
  if (!v) return std::optional<int64_t>();
  auto range = std::to_string(min) + ".." + std::to_string(max);
  if (v->is_int64()) {
    int64_t n = v->as_int64();
    if (n < min || n > max) return invalid(field(key), "must be " + range);
    return std::optional<int64_t>(n);
  }
  if (v->is_uint64()) {
    uint64_t n = v->as_uint64();
    if (max < 0 || n > static_cast<uint64_t>(max) || (min > 0 && n < static_cast<uint64_t>(min)))
      return invalid(field(key), "must be " + range);
    return std::optional<int64_t>(static_cast<int64_t>(n));
  }
  if (v->is_double()) return invalid(field(key), "must be a whole number " + range);
  return invalid(field(key), "must be a number, not " + jsonTypeName(*v));
}

Result<int64_t> ObjectReader::requiredInt(std::string_view key, int64_t min, int64_t max) {
  auto r = optionalInt(key, min, max);
  if (!r) return r.refusal();
  if (!*r) return invalid(field(key), "is required");
  return **r;
}

Result<std::optional<bool>> ObjectReader::optionalBool(std::string_view key) {
  const json::value* v = get(key);
  if (!v) return std::optional<bool>();
  if (!v->is_bool()) return invalid(field(key), "must be true or false, not " + jsonTypeName(*v));
  return std::optional<bool>(v->as_bool());
}

Result<std::optional<std::vector<std::string>>> ObjectReader::optionalStrings(std::string_view key,
                                                                              size_t maxItems,
                                                                              size_t maxLen) {
  const json::value* v = get(key);
  if (!v) return std::optional<std::vector<std::string>>();
  if (!v->is_array()) return invalid(field(key), "must be an array of strings");
  const auto& a = v->as_array();
  if (a.size() > maxItems)
    return invalid(field(key), "at most " + std::to_string(maxItems) + " items");
  std::vector<std::string> out;
  for (size_t i = 0; i < a.size(); ++i) {
    auto f = field(key) + "[" + std::to_string(i) + "]";
    if (!a[i].is_string()) return invalid(f, "must be a string, not " + jsonTypeName(a[i]));
    const auto& s = a[i].as_string();
    if (s.size() > maxLen) return invalid(f, "longer than " + std::to_string(maxLen) + " bytes");
    if (std::string_view(s.data(), s.size()).find('\0') != std::string_view::npos)
      return invalid(f, "must not contain NUL");
    out.emplace_back(s.data(), s.size());
  }
  return std::optional<std::vector<std::string>>(std::move(out));
}

Result<std::optional<std::vector<const json::object*>>> ObjectReader::optionalObjects(
    std::string_view key, size_t maxItems) {
  const json::value* v = get(key);
  if (!v) return std::optional<std::vector<const json::object*>>();
  if (!v->is_array()) return invalid(field(key), "must be an array of objects");
  const auto& a = v->as_array();
  if (a.size() > maxItems)
    return invalid(field(key), "at most " + std::to_string(maxItems) + " items");
  std::vector<const json::object*> out;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!a[i].is_object())
      return invalid(field(key) + "[" + std::to_string(i) + "]", "must be an object");
    out.push_back(&a[i].as_object());
  }
  return std::optional<std::vector<const json::object*>>(std::move(out));
}

Status ObjectReader::finish() const {
  for (const auto& kv : o_) {
    std::string_view k(kv.key().data(), kv.key().size());
    if (!read_.count(k)) return invalid(field(k.substr(0, 64)), "unknown field");
  }
  return okStatus();
}

}  // namespace jitgate
