// Writing one recording (recorder.hpp): events into a bounded buffer, the
// buffer into the .cast file in whole lines, each chunk into the chain.
#include "jitgate/recording/recorder.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "jitgate/recording/asciicast.hpp"
#include "jitgate/recording/recording_store.hpp"

namespace jitgate {
namespace {
// A chunk is written once this much is buffered (or the flush interval is
// up): the memory a recording holds, and the granularity of its chain.
constexpr size_t kChunkBytes = 64 * 1024;
// Output that follows within this time of the first byte not yet written as
// an event joins it (one event per burst, as asciinema's own recorder makes),
// up to kBurstBytes: what a program prints in many small writes costs one
// event line, not one per read.
constexpr auto kBurst = std::chrono::milliseconds(10);
constexpr size_t kBurstBytes = 16 * 1024;
}  // namespace

std::string_view toString(RecordMode m) {
  switch (m) {
    case RecordMode::Off:
      return "off";
    case RecordMode::Output:
      return "output";
    case RecordMode::All:
      return "all";
  }
  return "off";
}

Recorder::Recorder(RecordingStore* store, std::string id, UniqueFd cast, UniqueFd chain,
                   RecordMode mode, uint64_t maxBytes)
    : store_(store),
      id_(std::move(id)),
      cast_(std::move(cast)),
      chain_(std::move(chain)),
      mode_(mode),
      maxBytes_(maxBytes),
      hash_(id_) {
  buffer_.reserve(kChunkBytes + 1024);
}

Recorder::~Recorder() { close(); }

void Recorder::output(std::string_view bytes) {
  if (bytes.empty() || stopped_ || closed_) return;
  auto t = std::chrono::steady_clock::now();
  if (burst_.empty() && bytes.size() >= kBurstBytes) return event('o', t, bytes, outCarry_);
  if (!burst_.empty() && (t - burstAt_ > kBurst || burst_.size() + bytes.size() > kBurstBytes))
    endBurst();
  if (stopped_) return;
  if (burst_.empty()) burstAt_ = t;
  burst_.append(bytes);
  // Near the size cap the burst is written now, so that the event crossing
  // it is found while the relay still holds what comes next.
  if (burst_.size() >= kBurstBytes || written_ + buffer_.size() + burst_.size() >= maxBytes_)
    endBurst();
}

void Recorder::endBurst() {
  if (burst_.empty()) return;
  event('o', burstAt_, burst_, outCarry_);
  burst_.clear();  // its capacity stays, for the next burst
}

void Recorder::input(std::string_view bytes) {
  if (mode_ != RecordMode::All || bytes.empty()) return;
  endBurst();  // in the order it happened
  event('i', std::chrono::steady_clock::now(), bytes, inCarry_);
}

void Recorder::resize(int width, int height) {
  if (width <= 0 || height <= 0 || width > 10000 || height > 10000) return;
  std::string size = std::to_string(width) + "x" + std::to_string(height);
  std::string none;
  endBurst();
  event('r', std::chrono::steady_clock::now(), size, none);
}

void Recorder::event(char type, std::chrono::steady_clock::time_point at, std::string_view bytes,
                     std::string& carry) {
  if (stopped_ || closed_) return;
  appendEvent(buffer_, std::chrono::duration<double>(at - started_).count(), type, bytes, carry);
  // The event that crosses the cap is kept whole: what the user saw is in.
  if (written_ + buffer_.size() >= maxBytes_) {
    flush();
    stop("size_cap", "the recording reached its size cap (" + std::to_string(maxBytes_) +
                         " bytes, recordings.max_size)");
    return;
  }
  if (buffer_.size() >= kChunkBytes) flush();
}

void Recorder::flushIfDue(std::chrono::steady_clock::time_point now,
                          std::chrono::milliseconds interval) {
  if (now - lastFlush_ < interval) return;
  endBurst();
  if (!buffer_.empty()) flush();
}

bool Recorder::writeAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

void Recorder::flush() {
  lastFlush_ = std::chrono::steady_clock::now();
  if (buffer_.empty() || (stopped_ && end_ == "write_error")) return;
  if (!writeAll(cast_.get(), buffer_)) {
    int err = errno;
    spdlog::error("recording {}: cannot write: {}", id_, std::strerror(err));
    buffer_.clear();
    return stop("write_error",
                std::string("the recording cannot be written: ") + std::strerror(err));
  }
  hash_.add(buffer_);
  std::string line = "chunk " + std::to_string(hash_.links()) + " " + std::to_string(written_) +
                     " " + std::to_string(buffer_.size()) + " " + hash_.hex() + "\n";
  written_ += buffer_.size();
  buffer_.clear();
  if (!writeAll(chain_.get(), line)) {
    int err = errno;
    spdlog::error("recording {}: cannot write its chain: {}", id_, std::strerror(err));
    stop("write_error",
         std::string("the recording's chain cannot be written: ") + std::strerror(err));
  }
}

void Recorder::stop(std::string end, std::string problem) {
  if (stopped_) return;
  stopped_ = true;
  end_ = std::move(end);
  problem_ = std::move(problem);
}

RecordingSummary Recorder::close() {
  if (closed_) return summary_;
  endBurst();
  flush();
  closed_ = true;
  summary_.id = id_;
  summary_.bytes = written_;
  summary_.chunks = hash_.links();
  summary_.digest = hash_.hex();
  summary_.end = end_;
  if (end_ != "write_error") {
    std::string line = "end " + std::to_string(written_) + " " + std::to_string(hash_.links()) +
                       " " + hash_.hex() + " " + end_ + "\n";
    if (!writeAll(chain_.get(), line))
      spdlog::error("recording {}: cannot write its chain's end: {}", id_, std::strerror(errno));
  }
  // On disk before the audit log says it is closed.
  if (::fdatasync(cast_.get()) != 0 || ::fdatasync(chain_.get()) != 0)
    spdlog::error("recording {}: fdatasync: {}", id_, std::strerror(errno));
  cast_.reset();
  chain_.reset();
  if (store_) store_->closed(this, written_);
  return summary_;
}

}  // namespace jitgate
