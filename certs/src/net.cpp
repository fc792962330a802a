// Parsing and matching of IP addresses and CIDR prefixes (see net.hpp).
#include "jitgate/net.hpp"

#include <arpa/inet.h>

#include <cstring>

namespace jitgate {
namespace {

constexpr std::array<uint8_t, 12> kMappedPrefix = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

bool isMapped(const std::array<uint8_t, 16>& b) {
  return std::memcmp(b.data(), kMappedPrefix.data(), kMappedPrefix.size()) == 0;
}

bool samePrefix(const std::array<uint8_t, 16>& a, const std::array<uint8_t, 16>& b, int bits) {
  int full = bits / 8, rest = bits % 8;
  if (std::memcmp(a.data(), b.data(), full) != 0) return false;
  if (rest == 0) return true;
  uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (a[full] & mask) == (b[full] & mask);
}

bool hostBitsZero(const std::array<uint8_t, 16>& b, int bits) {
  for (int i = bits; i < 128; ++i)
    if (b[i / 8] & (0x80 >> (i % 8))) return false;
  return true;
}

}  // namespace

IpAddress IpAddress::fromV4(uint32_t hostOrder) {
  IpAddress a;
  std::memcpy(a.bytes_.data(), kMappedPrefix.data(), kMappedPrefix.size());
  a.bytes_[12] = hostOrder >> 24;
  a.bytes_[13] = hostOrder >> 16;
  a.bytes_[14] = hostOrder >> 8;
  a.bytes_[15] = hostOrder;
  a.v4_ = true;
  return a;
}

IpAddress IpAddress::fromV6(const std::array<uint8_t, 16>& bytes) {
  IpAddress a;
  a.bytes_ = bytes;
  a.v4_ = isMapped(bytes);
  return a;
}

Result<IpAddress> IpAddress::parse(std::string_view text, std::string_view field) {
  if (text.empty() || text.size() > INET6_ADDRSTRLEN)
    return invalid(std::string(field), "not an IP address");
  std::string s(text);
  if (s.find('\0') != std::string::npos) return invalid(std::string(field), "not an IP address");
  in_addr v4{};
  if (inet_pton(AF_INET, s.c_str(), &v4) == 1) return fromV4(ntohl(v4.s_addr));
  std::array<uint8_t, 16> v6{};
  if (inet_pton(AF_INET6, s.c_str(), v6.data()) == 1) return fromV6(v6);
  return invalid(std::string(field), "'" + s + "' is not an IPv4 or IPv6 address");
}

std::string IpAddress::toString() const {
  char buf[INET6_ADDRSTRLEN];
  if (v4_) {
    inet_ntop(AF_INET, bytes_.data() + 12, buf, sizeof buf);
  } else {
    inet_ntop(AF_INET6, bytes_.data(), buf, sizeof buf);
  }
  return buf;
}

Cidr Cidr::any() {
  Cidr c;
  c.any_ = true;
  c.bits_ = 0;
  return c;
}

Result<Cidr> Cidr::parse(std::string_view text, std::string_view field) {
  if (text == "*") return any();
  auto slash = text.find('/');
  auto addr = IpAddress::parse(text.substr(0, slash), field);
  if (!addr) {
    return invalid(std::string(field), "'" + std::string(text.substr(0, 64)) +
                                           "' is not a CIDR prefix (10.0.0.0/8, 2001:db8::/32, "
                                           "an address, or *)");
  }
  Cidr c;
  c.base_ = *addr;
  // The length counts bits of the family the prefix is written in:
  // "::ffff:10.0.0.0/104" is a mapped v4 prefix written in v6, 10.0.0.0/8.
  bool writtenAsV6 = text.substr(0, slash).find(':') != std::string_view::npos;
  int familyBits = writtenAsV6 ? 128 : 32;
  int len = familyBits;
  if (slash != std::string_view::npos) {
    auto digits = text.substr(slash + 1);
    auto bad = [&] {
      return invalid(std::string(field), "prefix length must be 0.." + std::to_string(familyBits));
    };
    if (digits.empty() || digits.size() > 3) return bad();
    len = 0;
    for (char ch : digits) {
      if (ch < '0' || ch > '9') return bad();
      len = len * 10 + (ch - '0');
    }
    if (len > familyBits) return bad();
  }
  // Held in v6 space either way.
  c.bits_ = writtenAsV6 ? len : len + 96;
  if (addr->isV4() && c.bits_ < 96)
    return invalid(std::string(field), "an IPv4-mapped prefix must be at least /96 long");
  if (!hostBitsZero(addr->bytes(), c.bits_)) {
    return invalid(std::string(field), "'" + std::string(text) +
                                           "' has host bits set; did you mean a network address?");
  }
  return c;
}

bool Cidr::isAny() const {
  if (any_ || bits_ == 0) return true;
  static const IpAddress kAllV4 = IpAddress::fromV4(0);
  return bits_ <= 96 && samePrefix(base_.bytes(), kAllV4.bytes(), bits_);
}

bool Cidr::contains(const IpAddress& addr) const {
  if (any_) return true;
  return samePrefix(base_.bytes(), addr.bytes(), bits_);
}

bool Cidr::within(const Cidr& outer) const {
  if (outer.any_) return true;
  if (any_) return outer.bits_ == 0;
  return outer.bits_ <= bits_ && samePrefix(outer.base_.bytes(), base_.bytes(), outer.bits_);
}

std::string Cidr::toString() const {
  if (any_) return "*";
  return base_.toString() + "/" + std::to_string(prefixLength());
}

}  // namespace jitgate
