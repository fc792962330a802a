// IP addresses and CIDR prefixes: parsing, IPv4-mapped IPv6 treated as IPv4,
// containment across families, and the refusals of malformed prefixes.
#include "jitgate/net.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "../support/refusals.hpp"

namespace jitgate {
namespace {

using testing::refused;

constexpr auto kInvalid = RefusalCode::InvalidArgument;

IpAddress ip(std::string_view s) {
  auto r = IpAddress::parse(s);
  EXPECT_TRUE(r.ok()) << s << ": " << (r.ok() ? "" : r.refusal().describe());
  return r.ok() ? *r : IpAddress{};
}

Cidr cidr(std::string_view s) {
  auto r = Cidr::parse(s);
  EXPECT_TRUE(r.ok()) << s << ": " << (r.ok() ? "" : r.refusal().describe());
  return r.ok() ? *r : Cidr{};
}

// --- IpAddress ---------------------------------------------------------------

TEST(IpAddress, ParsesIpv4) {
  auto a = ip("10.1.2.3");
  EXPECT_TRUE(a.isV4());
  EXPECT_EQ(a.toString(), "10.1.2.3");
  EXPECT_EQ(a, IpAddress::fromV4(0x0a010203));
  EXPECT_EQ(ip("0.0.0.0").toString(), "0.0.0.0");
  EXPECT_EQ(ip("255.255.255.255").toString(), "255.255.255.255");
}

TEST(IpAddress, HoldsIpv4InMappedForm) {
  auto a = ip("10.1.2.3");
  std::array<uint8_t, 16> want = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3};
  EXPECT_EQ(a.bytes(), want);
}

TEST(IpAddress, ParsesIpv6) {
  auto a = ip("2001:db8::1");
  EXPECT_FALSE(a.isV4());
  EXPECT_EQ(a.toString(), "2001:db8::1");
  EXPECT_EQ(ip("2001:0DB8:0000:0000:0000:0000:0000:0001"), a);
  EXPECT_EQ(ip("::").toString(), "::");
  EXPECT_EQ(ip("::1").toString(), "::1");
}

TEST(IpAddress, MappedIpv6IsTheIpv4Address) {
  auto mapped = ip("::ffff:10.1.2.3");
  EXPECT_TRUE(mapped.isV4());
  EXPECT_EQ(mapped, ip("10.1.2.3"));
  EXPECT_EQ(mapped.toString(), "10.1.2.3");
  EXPECT_EQ(ip("::ffff:a01:203"), ip("10.1.2.3"));
  std::array<uint8_t, 16> b = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3};
  EXPECT_EQ(IpAddress::fromV6(b), ip("10.1.2.3"));
  EXPECT_TRUE(IpAddress::fromV6(b).isV4());
}

TEST(IpAddress, Ipv4CompatibleIpv6IsNotIpv4) {
  // ::10.1.2.3 (deprecated "compatible" form) is a plain IPv6 address.
  auto a = ip("::10.1.2.3");
  EXPECT_FALSE(a.isV4());
  EXPECT_NE(a, ip("10.1.2.3"));
}

TEST(IpAddress, RefusesEmptyAndOverlong) {
  EXPECT_TRUE(refused(IpAddress::parse(""), kInvalid, "address", "not an IP address"));
  EXPECT_TRUE(
      refused(IpAddress::parse(std::string(47, '1')), kInvalid, "address", "not an IP address"));
}

TEST(IpAddress, RefusesGarbage) {
  for (std::string_view t :
       {std::string_view("1.2.3"), std::string_view("01.2.3.4"), std::string_view("256.1.1.1"),
        std::string_view("1.2.3.4.5"), std::string_view("fe80::1%eth0"),
        std::string_view("10.0.0.1 "), std::string_view(" 10.0.0.1"),
        std::string_view("2001:db8:::1"), std::string_view("host.example"),
        std::string_view("0x0a.1.2.3"), std::string_view("10.0.0.0/8")})
    EXPECT_TRUE(refused(IpAddress::parse(t), kInvalid, "address", "is not an IPv4 or IPv6 address"))
        << t;
}

TEST(IpAddress, RefusesEmbeddedNul) {
  EXPECT_TRUE(refused(IpAddress::parse(std::string_view("10.0.0.1\0junk", 13)), kInvalid, "address",
                      "not an IP address"));
}

TEST(IpAddress, NamesTheFieldItIsGiven) {
  EXPECT_TRUE(refused(IpAddress::parse("nope", "source"), kInvalid, "source"));
}

// --- Cidr::parse ---------------------------------------------------------------

TEST(CidrParse, Ipv4Prefix) {
  auto c = cidr("10.0.0.0/8");
  EXPECT_EQ(c.prefixLength(), 8);
  EXPECT_EQ(c.base(), ip("10.0.0.0"));
  EXPECT_EQ(c.toString(), "10.0.0.0/8");
  EXPECT_FALSE(c.isAny());
  EXPECT_EQ(cidr("192.168.1.128/25").toString(), "192.168.1.128/25");
}

TEST(CidrParse, Ipv6Prefix) {
  auto c = cidr("2001:db8::/32");
  EXPECT_EQ(c.prefixLength(), 32);
  EXPECT_EQ(c.toString(), "2001:db8::/32");
  EXPECT_FALSE(c.isAny());
}

TEST(CidrParse, BareAddressIsAHostPrefix) {
  EXPECT_EQ(cidr("10.1.2.3").prefixLength(), 32);
  EXPECT_EQ(cidr("10.1.2.3").toString(), "10.1.2.3/32");
  EXPECT_EQ(cidr("10.1.2.3"), cidr("10.1.2.3/32"));
  EXPECT_EQ(cidr("2001:db8::1").prefixLength(), 128);
  EXPECT_EQ(cidr("2001:db8::1").toString(), "2001:db8::1/128");
  EXPECT_EQ(cidr("::ffff:10.1.2.3"), cidr("10.1.2.3"));
}

TEST(CidrParse, StarIsAny) {
  auto c = cidr("*");
  EXPECT_TRUE(c.isAny());
  EXPECT_EQ(c.toString(), "*");
  EXPECT_EQ(c, Cidr::any());
  EXPECT_EQ(Cidr::any().prefixLength(), 0);
  // Only "*" spells "any address"; the word itself is not an address.
  EXPECT_FALSE(Cidr::parse("any").ok());
}

TEST(CidrParse, ZeroLengthPrefixes) {
  EXPECT_EQ(cidr("0.0.0.0/0").prefixLength(), 0);
  EXPECT_EQ(cidr("0.0.0.0/0").toString(), "0.0.0.0/0");
  EXPECT_EQ(cidr("::/0").prefixLength(), 0);
  EXPECT_EQ(cidr("::/0").toString(), "::/0");
  EXPECT_NE(cidr("0.0.0.0/0"), cidr("::/0"));
  EXPECT_NE(cidr("::/0"), Cidr::any());
}

TEST(CidrParse, RefusesHostBitsSet) {
  EXPECT_TRUE(refused(Cidr::parse("10.0.0.1/8"), kInvalid, "source", "host bits set"));
  EXPECT_TRUE(refused(Cidr::parse("10.128.0.0/8"), kInvalid, "source", "host bits set"));
  EXPECT_TRUE(refused(Cidr::parse("192.168.1.129/25"), kInvalid, "source", "host bits set"));
  EXPECT_TRUE(refused(Cidr::parse("2001:db8::1/32"), kInvalid, "source", "host bits set"));
  EXPECT_TRUE(refused(Cidr::parse("1.0.0.0/0"), kInvalid, "source", "host bits set"));
}

TEST(CidrParse, RefusesPrefixLengthOutOfRange) {
  EXPECT_TRUE(refused(Cidr::parse("10.0.0.0/33"), kInvalid, "source", "0..32"));
  EXPECT_TRUE(refused(Cidr::parse("2001:db8::/129"), kInvalid, "source", "0..128"));
  EXPECT_TRUE(refused(Cidr::parse("10.0.0.0/1000"), kInvalid, "source", "0..32"));
}

TEST(CidrParse, RefusesMalformedPrefixLength) {
  for (const char* t : {"10.0.0.0/", "10.0.0.0/8/8", "10.0.0.0/-1", "10.0.0.0/+8", "10.0.0.0/ 8",
                        "10.0.0.0/8 ", "10.0.0.0/0x8"})
    EXPECT_TRUE(refused(Cidr::parse(t), kInvalid, "source", "prefix length must be")) << t;
}

TEST(CidrParse, RefusesMalformedAddress) {
  for (const char* t : {"", "/8", "1.2.3", "01.2.3.4", "fe80::1%eth0", "fe80::%eth0/64",
                        "10.0.0.0 /8", "**", "any/0", "localhost"})
    EXPECT_TRUE(refused(Cidr::parse(t), kInvalid, "source", "is not a CIDR prefix")) << t;
}

TEST(CidrParse, NamesTheFieldItIsGiven) {
  EXPECT_TRUE(refused(Cidr::parse("10.0.0.1/8", "allowedSourceAddressPrefixes[3]"), kInvalid,
                      "allowedSourceAddressPrefixes[3]", "host bits set"));
  EXPECT_TRUE(refused(Cidr::parse("garbage", "ports[1].source"), kInvalid, "ports[1].source"));
}

// A mapped prefix written in v6 counts v6 bits: ::ffff:10.0.0.0/104 is 10.0.0.0/8.
TEST(CidrParse, MappedPrefixCountsIpv6Bits) {
  auto r = Cidr::parse("::ffff:10.0.0.0/104");
  ASSERT_TRUE(r.ok()) << r.refusal().describe();
  EXPECT_EQ(*r, cidr("10.0.0.0/8"));
  EXPECT_EQ(r->prefixLength(), 8);
  EXPECT_EQ(r->toString(), "10.0.0.0/8");
  auto host = Cidr::parse("::ffff:10.1.2.3/128");
  ASSERT_TRUE(host.ok()) << host.refusal().describe();
  EXPECT_EQ(*host, cidr("10.1.2.3/32"));
  auto all = Cidr::parse("::ffff:0.0.0.0/96");
  ASSERT_TRUE(all.ok()) << all.refusal().describe();
  EXPECT_EQ(*all, cidr("0.0.0.0/0"));
  EXPECT_TRUE(all->isAny());
}

TEST(CidrParse, RefusesMappedPrefixShorterThan96) {
  EXPECT_TRUE(refused(Cidr::parse("::ffff:10.0.0.0/95"), kInvalid, "source", "at least /96"));
  EXPECT_TRUE(refused(Cidr::parse("::ffff:10.0.0.0/8"), kInvalid, "source", "at least /96"));
}

TEST(CidrParse, RefusesMappedPrefixLongerThan128) {
  EXPECT_TRUE(refused(Cidr::parse("::ffff:10.0.0.0/129"), kInvalid, "source", "0..128"));
}

TEST(CidrParse, MappedPrefixHostBitsAreCheckedInV4Terms) {
  EXPECT_TRUE(refused(Cidr::parse("::ffff:10.0.0.1/104"), kInvalid, "source", "host bits set"));
}

// --- contains ----------------------------------------------------------------

TEST(CidrContains, Ipv4) {
  auto c = cidr("10.0.0.0/8");
  EXPECT_TRUE(c.contains(ip("10.0.0.0")));
  EXPECT_TRUE(c.contains(ip("10.255.255.255")));
  EXPECT_FALSE(c.contains(ip("11.0.0.0")));
  EXPECT_FALSE(c.contains(ip("9.255.255.255")));
  // A boundary inside a byte.
  auto c9 = cidr("10.0.0.0/9");
  EXPECT_TRUE(c9.contains(ip("10.127.255.255")));
  EXPECT_FALSE(c9.contains(ip("10.128.0.0")));
  auto host = cidr("10.1.2.3");
  EXPECT_TRUE(host.contains(ip("10.1.2.3")));
  EXPECT_FALSE(host.contains(ip("10.1.2.4")));
}

TEST(CidrContains, Ipv4PrefixMatchesMappedClient) {
  EXPECT_TRUE(cidr("10.0.0.0/8").contains(ip("::ffff:10.1.2.3")));
  EXPECT_FALSE(cidr("10.0.0.0/8").contains(ip("::ffff:11.1.2.3")));
  // The deprecated compatible form is not the v4 address.
  EXPECT_FALSE(cidr("10.0.0.0/8").contains(ip("::10.1.2.3")));
}

TEST(CidrContains, Ipv6) {
  auto c = cidr("2001:db8::/32");
  EXPECT_TRUE(c.contains(ip("2001:db8::1")));
  EXPECT_TRUE(c.contains(ip("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff")));
  EXPECT_FALSE(c.contains(ip("2001:db9::")));
  EXPECT_FALSE(c.contains(ip("10.1.2.3")));
}

TEST(CidrContains, AcrossFamilies) {
  EXPECT_TRUE(cidr("::/0").contains(ip("10.1.2.3")));
  EXPECT_TRUE(cidr("::/0").contains(ip("::ffff:10.1.2.3")));
  EXPECT_TRUE(cidr("::/0").contains(ip("2001:db8::1")));
  EXPECT_TRUE(cidr("0.0.0.0/0").contains(ip("10.1.2.3")));
  EXPECT_TRUE(cidr("0.0.0.0/0").contains(ip("255.255.255.255")));
  EXPECT_FALSE(cidr("0.0.0.0/0").contains(ip("2001:db8::1")));
  EXPECT_FALSE(cidr("0.0.0.0/0").contains(ip("::1")));
  EXPECT_FALSE(cidr("0.0.0.0/0").contains(ip("::")));
  EXPECT_TRUE(Cidr::any().contains(ip("10.1.2.3")));
  EXPECT_TRUE(Cidr::any().contains(ip("2001:db8::1")));
  EXPECT_TRUE(Cidr::any().contains(ip("::")));
  // A short v6 prefix of zeros holds every mapped (IPv4) address.
  EXPECT_TRUE(cidr("::/8").contains(ip("10.1.2.3")));
  EXPECT_TRUE(cidr("::/96").contains(ip("::1")));
  EXPECT_FALSE(cidr("::/96").contains(ip("10.1.2.3")));
}

// --- within ----------------------------------------------------------------------

TEST(CidrWithin, NarrowerPrefixIsWithinWider) {
  EXPECT_TRUE(cidr("10.1.0.0/16").within(cidr("10.0.0.0/8")));
  EXPECT_FALSE(cidr("10.0.0.0/8").within(cidr("10.1.0.0/16")));
  EXPECT_TRUE(cidr("10.0.0.0/8").within(cidr("10.0.0.0/8")));
  EXPECT_TRUE(cidr("10.1.2.3").within(cidr("10.1.0.0/16")));
  EXPECT_FALSE(cidr("11.0.0.0/8").within(cidr("10.0.0.0/8")));
  EXPECT_FALSE(cidr("10.0.0.0/7").within(cidr("10.0.0.0/8")));
  EXPECT_TRUE(cidr("2001:db8:1::/48").within(cidr("2001:db8::/32")));
  EXPECT_FALSE(cidr("2001:db8::/32").within(cidr("2001:db8:1::/48")));
}

TEST(CidrWithin, EverythingIsWithinStar) {
  for (const char* c : {"10.0.0.0/8", "10.1.2.3", "2001:db8::/32", "0.0.0.0/0", "::/0", "*"})
    EXPECT_TRUE(cidr(c).within(Cidr::any())) << c;
}

TEST(CidrWithin, StarIsWithinOnlyWhatHoldsBothFamilies) {
  EXPECT_TRUE(Cidr::any().within(cidr("::/0")));
  EXPECT_FALSE(Cidr::any().within(cidr("0.0.0.0/0")));
  EXPECT_FALSE(Cidr::any().within(cidr("10.0.0.0/8")));
  EXPECT_FALSE(Cidr::any().within(cidr("2001:db8::/32")));
}

TEST(CidrWithin, AcrossFamilies) {
  EXPECT_TRUE(cidr("10.0.0.0/8").within(cidr("::/0")));
  EXPECT_TRUE(cidr("0.0.0.0/0").within(cidr("::/0")));
  EXPECT_FALSE(cidr("::/0").within(cidr("0.0.0.0/0")));
  EXPECT_FALSE(cidr("2001:db8::/32").within(cidr("0.0.0.0/0")));
  EXPECT_FALSE(cidr("10.0.0.0/8").within(cidr("2001:db8::/32")));
  EXPECT_FALSE(cidr("2001:db8::/32").within(cidr("10.0.0.0/8")));
  EXPECT_TRUE(cidr("10.0.0.0/8").within(cidr("::/8")));
}

// --- isAny -------------------------------------------------------------------------

TEST(CidrIsAny, WholeFamiliesAndStar) {
  EXPECT_TRUE(cidr("*").isAny());
  EXPECT_TRUE(cidr("0.0.0.0/0").isAny());
  EXPECT_TRUE(cidr("::/0").isAny());
  EXPECT_FALSE(cidr("0.0.0.0/1").isAny());
  EXPECT_FALSE(cidr("128.0.0.0/1").isAny());
  EXPECT_FALSE(cidr("10.0.0.0/8").isAny());
  EXPECT_FALSE(cidr("2001:db8::/32").isAny());
  EXPECT_FALSE(cidr("10.1.2.3").isAny());
}

TEST(CidrIsAny, V6PrefixesHoldingAllOfIpv4) {
  // Every IPv4 client is ::ffff:a.b.c.d: a v6 prefix that holds
  // ::ffff:0:0/96 admits all of them.
  EXPECT_TRUE(cidr("::ffff:0:0/96").isAny());
  EXPECT_TRUE(cidr("::/80").isAny());
  EXPECT_TRUE(cidr("::/8").isAny());
  EXPECT_TRUE(cidr("::/1").isAny());
  EXPECT_FALSE(cidr("::/81").isAny());
  EXPECT_FALSE(cidr("::/96").isAny());
  EXPECT_FALSE(cidr("::ffff:0:0/97").isAny());
  EXPECT_FALSE(cidr("8000::/1").isAny());
}

}  // namespace
}  // namespace jitgate
