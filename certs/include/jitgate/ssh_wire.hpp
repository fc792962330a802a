// The SSH wire encoding (RFC 4251 section 5): uint32/uint64 big-endian,
// length-prefixed strings, mpints. Readers are bounds-checked and never
// read past their input.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace jitgate {

class SshWriter {
 public:
  SshWriter& u8(uint8_t v);
  SshWriter& u32(uint32_t v);
  SshWriter& u64(uint64_t v);
  SshWriter& string(std::string_view s);
  // An unsigned big-endian magnitude as an mpint: leading zeros stripped, a
  // zero byte prepended when the top bit is set.
  SshWriter& mpint(std::string_view magnitude);
  SshWriter& raw(std::string_view s);
  const std::string& data() const { return buf_; }
  std::string take() { return std::move(buf_); }

 private:
  std::string buf_;
};

class SshReader {
 public:
  explicit SshReader(std::string_view data) : data_(data) {}
  bool u8(uint8_t& v);
  bool u32(uint32_t& v);
  bool u64(uint64_t& v);
  bool string(std::string_view& s);
  bool empty() const { return pos_ == data_.size(); }
  size_t offset() const { return pos_; }
  std::string_view rest() const { return data_.substr(pos_); }

 private:
  std::string_view data_;
  size_t pos_ = 0;
};

std::string base64Encode(std::string_view data);
// Strict: only the base64 alphabet, length a multiple of 4, '=' only at the end.
bool base64Decode(std::string_view text, std::string& out);

}  // namespace jitgate
