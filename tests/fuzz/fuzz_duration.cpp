// libFuzzer: durations and RFC 3339 timestamps. Whatever parses must format
// and parse back to the same value.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "jitgate/timefmt.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto d = jitgate::parseDuration(text)) {
    if (d->count() <= 0) std::abort();
    auto again = jitgate::parseDuration(jitgate::formatDurationIso(*d));
    if (!again || *again != *d) std::abort();
  }
  if (auto t = jitgate::parseTimestamp(text)) {
    auto again = jitgate::parseTimestamp(jitgate::formatTimestamp(*t));
    if (!again || *again != *t) std::abort();
  }
  return 0;
}
