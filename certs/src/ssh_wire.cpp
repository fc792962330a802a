// The SSH wire encoding (RFC 4251): bounds-checked readers and the writers.
#include "jitgate/ssh_wire.hpp"

#include <openssl/evp.h>

namespace jitgate {

SshWriter& SshWriter::u8(uint8_t v) {
  buf_.push_back(static_cast<char>(v));
  return *this;
}

SshWriter& SshWriter::u32(uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) buf_.push_back(static_cast<char>(v >> s));
  return *this;
}

SshWriter& SshWriter::u64(uint64_t v) {
  for (int s = 56; s >= 0; s -= 8) buf_.push_back(static_cast<char>(v >> s));
  return *this;
}

SshWriter& SshWriter::string(std::string_view s) {
  u32(static_cast<uint32_t>(s.size()));
  buf_.append(s);
  return *this;
}

SshWriter& SshWriter::mpint(std::string_view m) {
  while (!m.empty() && m.front() == '\0') m.remove_prefix(1);
  if (!m.empty() && (static_cast<uint8_t>(m.front()) & 0x80)) {
    u32(static_cast<uint32_t>(m.size() + 1));
    buf_.push_back('\0');
    buf_.append(m);
  } else {
    string(m);
  }
  return *this;
}

SshWriter& SshWriter::raw(std::string_view s) {
  buf_.append(s);
  return *this;
}

bool SshReader::u8(uint8_t& v) {
  if (data_.size() - pos_ < 1) return false;
  v = static_cast<uint8_t>(data_[pos_++]);
  return true;
}

bool SshReader::u32(uint32_t& v) {
  if (data_.size() - pos_ < 4) return false;
  v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint8_t>(data_[pos_++]);
  return true;
}

bool SshReader::u64(uint64_t& v) {
  if (data_.size() - pos_ < 8) return false;
  v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(data_[pos_++]);
  return true;
}

bool SshReader::string(std::string_view& s) {
  size_t save = pos_;
  uint32_t len;
  if (!u32(len) || len > data_.size() - pos_) {
    pos_ = save;
    return false;
  }
  s = data_.substr(pos_, len);
  pos_ += len;
  return true;
}

std::string base64Encode(std::string_view data) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(data.data()),
                          static_cast<int>(data.size()));
  out.resize(n < 0 ? 0 : static_cast<size_t>(n));
  return out;
}

bool base64Decode(std::string_view text, std::string& out) {
  static constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  if (text.empty() || text.size() % 4 != 0 || text.size() > (1u << 24)) return false;
  size_t pad = 0;
  if (text.back() == '=') ++pad;
  if (text.size() >= 2 && text[text.size() - 2] == '=') ++pad;
  for (size_t i = 0; i < text.size() - pad; ++i)
    if (kAlphabet.find(text[i]) == std::string_view::npos) return false;
  out.assign(text.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()),
                          static_cast<int>(text.size()));
  if (n < 0) return false;
  out.resize(static_cast<size_t>(n) - pad);
  return true;
}

}  // namespace jitgate
