// The asciicast v2 text a recording is made of (docs/RECORDINGS.md): event
// lines `[TIME, "o", "DATA"]` with terminal bytes turned into valid UTF-8
// JSON strings, as asciinema reads them (it decodes the file strictly).
#pragma once

#include <string>
#include <string_view>

namespace jitgate {

// Appends `bytes` to `out` as the inside of a JSON string: valid UTF-8
// copied, control characters, quote and backslash escaped, anything else
// (invalid UTF-8) as U+FFFD. A sequence cut at the end of `bytes` waits in
// `carry` for the next call; with `final`, it is replaced instead.
void appendJsonText(std::string& out, std::string_view bytes, std::string& carry,
                    bool final = false);

// A whole JSON string, quotes included, for header values.
std::string jsonString(std::string_view text);

// One event line: `[1.234567, "o", "..."]` and a newline. `carry` as above.
void appendEvent(std::string& out, double seconds, char type, std::string_view bytes,
                 std::string& carry);

}  // namespace jitgate
