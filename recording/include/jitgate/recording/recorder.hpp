// One recording being written: a session channel's output (and input, with
// record = all) and resizes as asciicast v2 events, buffered up to a bound,
// written in chunks each linked into the hash chain (docs/RECORDINGS.md).
// Owned by the channel it records; the store flushes it on its timer.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "jitgate/recording/hash_chain.hpp"
#include "jitgate/recordings.hpp"
#include "jitgate/unique_fd.hpp"

namespace jitgate {

class RecordingStore;

enum class RecordMode { Off, Output, All };
std::string_view toString(RecordMode m);

// What the header says (asciicast v2 plus a "jitgate" object).
struct RecordingHeader {
  std::string session, user, target, grantId, source;
  std::string channel;  // "shell" or "exec"
  std::string command;  // the exec command line
  std::string term;     // from the pty request
  int width = 80, height = 24;
  RecordMode mode = RecordMode::Output;
};

// How a recording ended, as its summary and the audit say.
struct RecordingSummary {
  std::string id;
  uint64_t bytes = 0;
  uint64_t chunks = 0;
  std::string digest;  // hex SHA-256, the chain's last link
  std::string end;     // "closed", "size_cap" or "write_error"
};

class Recorder {
 public:
  Recorder(const Recorder&) = delete;
  Recorder& operator=(const Recorder&) = delete;
  ~Recorder();  // closes it ("closed") if close() was not called

  const std::string& id() const { return id_; }
  RecordMode mode() const { return mode_; }
  // False once the recording stopped taking events (its size cap reached
  // or a write failed): problem() says why.
  bool recording() const { return !stopped_; }
  const std::string& problem() const { return problem_; }
  // Whether it stopped at its size cap (not a write failure).
  bool capReached() const { return end_ == "size_cap"; }

  void output(std::string_view bytes);
  void input(std::string_view bytes);  // kept only with RecordMode::All
  void resize(int width, int height);
  // Writes what is buffered if the last write is `interval` old.
  void flushIfDue(std::chrono::steady_clock::time_point now, std::chrono::milliseconds interval);
  // Writes the rest and the chain's end; idempotent.
  RecordingSummary close();

 private:
  friend class RecordingStore;
  Recorder(RecordingStore* store, std::string id, UniqueFd cast, UniqueFd chain, RecordMode mode,
           uint64_t maxBytes);
  void event(char type, std::chrono::steady_clock::time_point at, std::string_view bytes,
             std::string& carry);
  void endBurst();  // the output gathered so far becomes one event
  void flush();
  bool writeAll(int fd, std::string_view data);
  void stop(std::string end, std::string problem);

  RecordingStore* store_;
  std::string id_;
  UniqueFd cast_, chain_;
  RecordMode mode_;
  uint64_t maxBytes_;
  HashChain hash_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point lastFlush_ = started_;
  std::string buffer_;  // whole event lines not yet written
  std::string burst_;   // output not yet made an event (at most kBurstBytes)
  std::chrono::steady_clock::time_point burstAt_;  // when its first byte came
  std::string outCarry_, inCarry_;
  uint64_t written_ = 0;  // bytes in the .cast file
  bool stopped_ = false, closed_ = false;
  std::string end_ = "closed", problem_;
  RecordingSummary summary_;
};

}  // namespace jitgate
