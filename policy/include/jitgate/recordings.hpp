// The session recordings of this node, as the control API lists, hands out,
// verifies and searches them (GET /v1/recordings...). Implemented by the
// recording component's RecordingStore; the policy component sees this seam.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "jitgate/result.hpp"

namespace jitgate {

// One recording: an asciicast v2 file and its hash chain (docs/RECORDINGS.md).
struct RecordingInfo {
  std::string id;       // "<session id>-<channel>", e.g. s-0123456789abcdef-1
  std::string session;  // the session id it belongs to
  std::string user, target, grantId, source;
  std::string channel;  // "shell" or "exec"
  std::string command;  // the exec command; empty for a shell
  std::string mode;     // "output" or "all" (input recorded too)
  int width = 0, height = 0;
  std::chrono::sys_time<std::chrono::milliseconds> started{};
  uint64_t bytes = 0;     // of the .cast file
  bool closed = false;    // its end was written (else it is live, or cut short by a crash)
  std::string endReason;  // once closed: "closed", "size_cap", "write_error"
  double duration = 0;    // seconds, to its last event written
};

struct RecordingFilter {
  std::string user, target, grantId;
  std::optional<std::chrono::sys_time<std::chrono::milliseconds>> since;  // started at or after
};

// What the chain says about a file.
struct RecordingCheck {
  enum class State { Intact, Incomplete, Altered };
  State state = State::Altered;
  uint64_t chunks = 0;      // chained chunks that matched
  uint64_t bytes = 0;       // bytes those chunks cover
  std::string digest;       // hex SHA-256 at the last chunk that matched
  std::string finalDigest;  // the chain file's end line, if any
  std::string problem;      // what is wrong (Altered) or missing (Incomplete)
};
std::string_view toString(RecordingCheck::State s);

// Where the text was on a screen: at `offset` seconds into the recording,
// row `row` (0 = top) read `line`.
struct ScreenHit {
  std::string id;
  double offset = 0;
  int row = 0;
  std::string line;
};

class Recordings {
 public:
  virtual ~Recordings() = default;
  // Newest first.
  virtual std::vector<RecordingInfo> list(const RecordingFilter& f) const = 0;
  // NotFound for an id that names no recording; InvalidArgument for one
  // that is not a recording id at all (nothing outside the directory is
  // ever named).
  virtual Result<RecordingInfo> find(const std::string& id) const = 0;
  // The .cast file as it is on disk now.
  virtual Result<std::string> cast(const std::string& id) const = 0;
  virtual Result<RecordingCheck> check(const std::string& id) const = 0;
  // Lines of the rendered screen that show `text` (case-insensitive), in
  // the recordings `f` selects; at most `limit` hits.
  virtual Result<std::vector<ScreenHit>> search(const std::string& text, const RecordingFilter& f,
                                                size_t limit) const = 0;
};

}  // namespace jitgate
