// libFuzzer: addresses and CIDR prefixes. A parsed prefix must print and
// parse back to itself, hold its own base address, and lie within itself.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "jitgate/net.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto a = jitgate::IpAddress::parse(text)) {
    auto again = jitgate::IpAddress::parse(a->toString());
    if (!again || !(*again == *a)) std::abort();
  }
  if (auto c = jitgate::Cidr::parse(text)) {
    auto again = jitgate::Cidr::parse(c->toString());
    if (!again || !(*again == *c)) std::abort();
    if (!c->within(*c)) std::abort();
    if (!c->isAny() && !c->contains(c->base())) std::abort();
    if (!c->within(jitgate::Cidr::any())) std::abort();
  }
  return 0;
}
