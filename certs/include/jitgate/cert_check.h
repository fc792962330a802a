/* The SSH certificate verifier as a C ABI, for the PAM module and anything
 * else that is not C++. No C++ exception crosses it; every failure is a
 * return code with a reason. See docs/CERTIFICATES.md for the checks. */
#ifndef JITGATE_CERT_CHECK_H
#define JITGATE_CERT_CHECK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Same order and meaning as jitgate::CertCheck. */
enum jitgate_cert_check {
  JITGATE_CERT_OK = 0,
  JITGATE_CERT_MALFORMED = 1,
  JITGATE_CERT_NOT_USER_CERTIFICATE = 2,
  JITGATE_CERT_UNTRUSTED_CA = 3,
  JITGATE_CERT_CHAINED_CA = 4,
  JITGATE_CERT_BAD_SIGNATURE = 5,
  JITGATE_CERT_NO_PRINCIPALS = 6,
  JITGATE_CERT_WRONG_PRINCIPAL = 7,
  JITGATE_CERT_NOT_YET_VALID = 8,
  JITGATE_CERT_EXPIRED = 9,
  JITGATE_CERT_UNKNOWN_CRITICAL_OPTION = 10,
  JITGATE_CERT_SOURCE_NOT_ALLOWED = 11,
  JITGATE_CERT_REVOKED = 12,
  JITGATE_CERT_WRONG_TARGET = 13,
  /* Inputs the check itself could not use: fail closed. */
  JITGATE_CERT_BAD_CA_KEYS = 100,
  JITGATE_CERT_BAD_KRL = 101,
  JITGATE_CERT_BAD_ARGUMENT = 102,
  JITGATE_CERT_INTERNAL_ERROR = 103
};

/* Checks an OpenSSH user certificate.
 *   cert:       "TYPE BASE64 [COMMENT]", or sshd's SSH_AUTH_INFO_0 line
 *               "publickey TYPE BASE64" (other methods' lines are skipped);
 *   ca_keys:    the text of a TrustedUserCAKeys file (one key per line; '#'
 *               comments and blank lines allowed); must hold at least one key;
 *   krl/krl_len: the bytes of a KRL file, or NULL/0 for none;
 *   principal:  the login; target: the target this check runs for (the
 *               certificate must list "<login>@<target>"; never empty);
 *   source:     the client's IP address as text;
 *   now:        seconds since the epoch (UTC);
 *   why/why_len: receives a NUL-terminated reason (may be NULL/0).
 * Returns JITGATE_CERT_OK only when every check passed; on OK,
 * *valid_before (if not NULL) receives the certificate's end. */
int jitgate_check_ssh_certificate(const char* cert, const char* ca_keys, const unsigned char* krl,
                                  size_t krl_len, const char* principal, const char* target,
                                  const char* source, int64_t now, uint64_t* valid_before,
                                  char* why, size_t why_len);

#ifdef __cplusplus
}
#endif

#endif
