// Strict reading of JSON from outside: one object, no duplicate keys, bounded
// depth and size, valid UTF-8 (Boost.JSON checks it), and no unknown fields.
#pragma once

#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "jitgate/result.hpp"

namespace jitgate {

inline constexpr size_t kMaxJsonBody = 64 * 1024;

// Parses `text` as a JSON object. Refuses duplicate keys at any depth, depth
// over 8, and anything but an object at the top.
Result<boost::json::object> parseJsonObject(std::string_view text);

// Reads fields off an object, each access naming its field in refusals;
// finish() refuses any field that was not read.
class ObjectReader {
 public:
  ObjectReader(const boost::json::object& o, std::string prefix = "");

  Result<std::string> requiredString(std::string_view key, size_t maxLen = 256);
  Result<std::optional<std::string>> optionalString(std::string_view key, size_t maxLen = 256);
  Result<std::optional<int64_t>> optionalInt(std::string_view key, int64_t min, int64_t max);
  Result<int64_t> requiredInt(std::string_view key, int64_t min, int64_t max);
  Result<std::optional<bool>> optionalBool(std::string_view key);
  Result<std::optional<std::vector<std::string>>> optionalStrings(std::string_view key,
                                                                  size_t maxItems,
                                                                  size_t maxLen = 256);
  // Objects inside an array: returns them for the caller to read with their
  // own ObjectReader (prefix "key[i].").
  Result<std::optional<std::vector<const boost::json::object*>>> optionalObjects(
      std::string_view key, size_t maxItems);
  Status finish() const;

  std::string field(std::string_view key) const { return prefix_ + std::string(key); }

 private:
  const boost::json::value* get(std::string_view key);
  const boost::json::object& o_;
  std::string prefix_;
  std::set<std::string, std::less<>> read_;
};

}  // namespace jitgate
