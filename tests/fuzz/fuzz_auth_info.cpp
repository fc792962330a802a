// libFuzzer: pam_jitgate's input path, SSH_AUTH_INFO_0 as sshd hands it over
// (and garbage), through the C ABI the module's verifier shares. No fuzzed
// input can carry a valid signature by our CA, so nothing may pass.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "jitgate/cert_check.h"
#include "jitgate/ssh_key.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string caKeys =
      jitgate::SigningKey::generate(jitgate::KeyAlgorithm::Ed25519).value().publicLine("ca") + "\n";
  std::string text(reinterpret_cast<const char*>(data), size);
  char why[128];
  uint64_t validBefore = 0;
  int rc = jitgate_check_ssh_certificate(text.c_str(), caKeys.c_str(), nullptr, 0, "alice", "vm1",
                                         "127.0.0.1", 1800000000, &validBefore, why, sizeof why);
  if (rc == JITGATE_CERT_OK) std::abort();
  return 0;
}
