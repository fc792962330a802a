/* Compiled as C: the header must be valid C, and the ABI callable from it.
 * The target is vm1. */
#include "jitgate/cert_check.h"

int jitgate_test_call_from_c(const char* cert, const char* ca_keys, const char* principal,
                             const char* source, long long now, char* why, unsigned why_len) {
  uint64_t valid_before = 0;
  return jitgate_check_ssh_certificate(cert, ca_keys, NULL, 0, principal, "vm1", source,
                                       (int64_t)now, &valid_before, why, why_len);
}
