// libFuzzer: control-API bodies from JSON text to validated inputs (request,
// grant, policy, target, user with SSH keys). Must never crash or leak.
#include <cstdint>
#include <string_view>

#include "jitgate/codec.hpp"
#include "jitgate/json_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto obj = jitgate::parseJsonObject(text);
  if (!obj) return 0;
  (void)jitgate::decodeRequestInput(*obj);
  (void)jitgate::decodeGrantInput(*obj);
  (void)jitgate::decodePolicy(*obj, "vm1");
  (void)jitgate::decodeTarget(*obj);
  (void)jitgate::decodeUser(*obj);
  return 0;
}
