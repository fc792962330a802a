// IP addresses and CIDR prefixes. IPv4-mapped IPv6 addresses (::ffff:a.b.c.d)
// are treated as the IPv4 address they carry, so a v4 rule matches a client
// that reached a dual-stack socket.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "jitgate/result.hpp"

namespace jitgate {

class IpAddress {
 public:
  static Result<IpAddress> parse(std::string_view text, std::string_view field = "address");
  static IpAddress fromV4(uint32_t hostOrder);
  static IpAddress fromV6(const std::array<uint8_t, 16>& bytes);

  bool isV4() const { return v4_; }
  // Always 16 bytes; an IPv4 address is held in its mapped form ::ffff:a.b.c.d.
  const std::array<uint8_t, 16>& bytes() const { return bytes_; }
  std::string toString() const;
  bool operator==(const IpAddress&) const = default;

 private:
  std::array<uint8_t, 16> bytes_{};
  bool v4_ = false;
};

class Cidr {
 public:
  // "10.0.0.0/8", "2001:db8::/32", a bare address (a /32 or /128), or "*"
  // (any address of either family). A prefix with host bits set is refused:
  // "10.0.0.1/8" is more likely a mistake than a wish for 10.0.0.0/8.
  static Result<Cidr> parse(std::string_view text, std::string_view field = "source");
  static Cidr any();

  bool contains(const IpAddress& addr) const;
  // True when every address this prefix holds is inside `outer`.
  bool within(const Cidr& outer) const;
  // "*", 0.0.0.0/0, ::/0, and any v6 prefix that holds ::ffff:0:0/96 (all
  // of IPv4): a whole address family or more.
  bool isAny() const;
  int prefixLength() const { return base_.isV4() ? bits_ - 96 : bits_; }
  const IpAddress& base() const { return base_; }
  std::string toString() const;
  bool operator==(const Cidr&) const = default;

 private:
  // Held in the IPv6 space (v4 prefixes as ::ffff:a.b.c.d/96+n) so that
  // containment is one comparison whatever the families.
  IpAddress base_;
  int bits_ = 0;  // 0..128
  bool any_ = false;
};

}  // namespace jitgate
