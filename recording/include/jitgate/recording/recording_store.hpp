// The recordings directory (state_dir/recordings, 0700): new recordings
// named by session id, the disk budget with retention by age, and the
// control API's view of them (the Recordings seam). docs/RECORDINGS.md.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "jitgate/recording/recorder.hpp"
#include "jitgate/recordings.hpp"

namespace jitgate {

// What happens to a new recorded session when the budget has no room, and
// to a session whose recording reaches its size cap or fails.
enum class WhenFull {
  Refuse,   // refuse the session (the default: nothing runs unrecorded)
  Continue  // go on without recording (audited)
};

struct RecordingSettings {
  RecordMode mode = RecordMode::Output;
  uint64_t maxBytes = 64ull << 20;             // per recording (max_size)
  uint64_t budgetBytes = 4ull << 30;           // all of them (budget)
  std::chrono::seconds retention{90 * 86400};  // older recordings are removed
  WhenFull whenFull = WhenFull::Refuse;
  std::chrono::milliseconds flushInterval{2000};
};

class RecordingStore final : public Recordings {
 public:
  // Creates `dir` (0700) if needed and counts what is in it. Throws nothing;
  // a directory that cannot be used is a refusal (jitgated does not start).
  static Result<std::unique_ptr<RecordingStore>> open(const std::string& dir,
                                                      RecordingSettings settings);
  ~RecordingStore() override;

  const RecordingSettings& settings() const { return settings_; }
  const std::string& dir() const { return dir_; }

  // A new recording for a channel of `h.session`: refused (Unavailable)
  // when the budget has no room for one more at its size cap, or the file
  // cannot be made. The recorder must not outlive the store.
  Result<std::unique_ptr<Recorder>> begin(const RecordingHeader& h);
  // Writes every open recording's buffer that is due (run every second).
  void flushDue();
  // Removes recordings last written before `now - retention`; their ids.
  std::vector<std::string> prune(std::chrono::system_clock::time_point now);
  // Bytes the budget counts now: closed files plus each open recording at
  // its cap.
  uint64_t committedBytes() const;

  static bool validId(std::string_view id);

  // --- Recordings
  std::vector<RecordingInfo> list(const RecordingFilter& f) const override;
  Result<RecordingInfo> find(const std::string& id) const override;
  Result<std::string> cast(const std::string& id) const override;
  Result<RecordingCheck> check(const std::string& id) const override;
  Result<std::vector<ScreenHit>> search(const std::string& text, const RecordingFilter& f,
                                        size_t limit) const override;

 private:
  friend class Recorder;
  RecordingStore(std::string dir, RecordingSettings settings);
  void closed(Recorder* r, uint64_t bytes);
  std::string path(const std::string& id, const char* ext) const;
  Result<RecordingInfo> read(const std::string& id) const;
  std::vector<std::string> ids() const;

  std::string dir_;
  RecordingSettings settings_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Recorder*> open_;
  uint64_t closedBytes_ = 0;  // files on disk, open ones not counted
};

}  // namespace jitgate
