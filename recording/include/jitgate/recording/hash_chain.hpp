// The hash chain over a recording's chunks (docs/RECORDINGS.md): h0 is
// SHA-256("jitgate-recording-v1\n" ID), h(n) = SHA-256(h(n-1) || chunk n);
// the last one is the recording's digest, written to the audit log at close.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace jitgate {

class HashChain {
 public:
  explicit HashChain(std::string_view recordingId);
  void add(std::string_view chunk);
  std::string hex() const;  // the current link, 64 hex digits
  uint64_t links() const { return links_; }

 private:
  std::array<unsigned char, 32> h_{};
  uint64_t links_ = 0;
};

}  // namespace jitgate
