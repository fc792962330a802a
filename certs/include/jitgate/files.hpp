// Reading files only their owner may change (keys, the CA, KRLs) and writing
// files whole or not at all (keys, KRLs, certificates handed out).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <string>
#include <string_view>

#include "jitgate/result.hpp"

namespace jitgate {

// What a restricted file must be before its contents are trusted.
struct FileRules {
  std::string_view field;  // the refusal's field ("key", "ca_file")
  RefusalCode code = RefusalCode::Unavailable;
  bool rootOwned = false;         // must be owned by uid 0
  mode_t forbiddenMode = 077;     // mode bits that must be clear
  std::string_view looseMessage;  // the refusal when the owner or mode is wrong
  size_t maxBytes = 64 * 1024;    // larger files are refused
  bool secret = false;            // wipe every buffer the contents passed through
};

// A private file: 0600 (or stricter), any owner; a secret.
FileRules privateFileRules(std::string_view field);
// A root-owned file that group and others may not write.
FileRules rootFileRules(std::string_view field, RefusalCode code);

// Reads `path` whole: a regular file (a symlink is refused), with the owner
// and mode `rules` ask for, of at most rules.maxBytes. The checks are made
// on the open descriptor, so the file checked is the file read.
Result<std::string> readRestrictedFile(const std::string& path, const FileRules& rules);

enum class Replace { Existing, Never };

// Writes `data` to `path` through a new temporary file beside it (O_EXCL,
// never following a link), with `mode`, fsync, then moves it into place and
// fsyncs the directory. A reader sees the old file or the new one. With
// Replace::Never an existing `path` is kept and the write refused.
Status writeFileAtomically(const std::string& path, std::string_view data, mode_t mode,
                           Replace replace = Replace::Existing);

}  // namespace jitgate
