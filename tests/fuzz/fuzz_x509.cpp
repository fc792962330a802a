// libFuzzer: X.509 client certificates (PEM text) through the verifier of a
// CA made at start-up. No input can carry that CA's signature, so the
// verdict must never be Ok.
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <set>
#include <string_view>

#include "jitgate/x509_ca.hpp"

namespace {

const jitgate::SysTime kNow{jitgate::Seconds{1767225600}};  // 2026-01-01T00:00:00Z

const jitgate::X509Authority& fixedCa() {
  static const std::optional<jitgate::X509Authority> ca = [] {
    auto created = jitgate::X509Authority::create("jitgate fuzz CA", kNow);
    if (!created) std::abort();
    return std::optional<jitgate::X509Authority>(std::move(created).value());
  }();
  return *ca;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view pem(reinterpret_cast<const char*>(data), size);
  static const std::set<uint64_t> revoked = {7, 4242};
  if (fixedCa().verify(pem, kNow, revoked)) std::abort();
  return 0;
}
