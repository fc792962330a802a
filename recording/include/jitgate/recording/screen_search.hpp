// Search what a recording's screen showed, not its byte stream: the output
// events are played into a terminal emulator (libvterm) at the recording's
// size, and each screen row is read as it changes, so text edited with
// backspace or drawn by cursor moves is found as it was shown.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "jitgate/recordings.hpp"

namespace jitgate {

// Appends to `hits` (up to `limit` in all) each time a row comes to show
// `needle` (ASCII case-insensitive) in the asciicast v2 text `cast`; the
// hit's id is `id`. Lines that are not events are skipped.
void searchScreen(std::string_view cast, const std::string& id, std::string_view needle,
                  size_t limit, std::vector<ScreenHit>& hits);

}  // namespace jitgate
