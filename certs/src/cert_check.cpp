// The C ABI over checkSshCertificate: parse the inputs, run the checks,
// turn everything (including exceptions) into a code and a reason.
#include "jitgate/cert_check.h"

#include <cstring>
#include <string>

#include "jitgate/ssh_cert.hpp"
#include "jitgate/ssh_wire.hpp"

namespace jitgate {
namespace {

static_assert(JITGATE_CERT_REVOKED == static_cast<int>(CertCheck::Revoked));
static_assert(JITGATE_CERT_WRONG_TARGET == static_cast<int>(CertCheck::WrongTarget));
static_assert(JITGATE_CERT_SOURCE_NOT_ALLOWED == static_cast<int>(CertCheck::SourceNotAllowed));

int answer(int code, const std::string& reason, char* why, size_t whyLen) {
  if (why && whyLen) {
    size_t n = std::min(reason.size(), whyLen - 1);
    std::memcpy(why, reason.data(), n);
    why[n] = '\0';
  }
  return code;
}

}  // namespace
}  // namespace jitgate

extern "C" int jitgate_check_ssh_certificate(const char* cert, const char* caKeys,
                                             const unsigned char* krl, size_t krlLen,
                                             const char* principal, const char* target,
                                             const char* source, int64_t now, uint64_t* validBefore,
                                             char* why, size_t whyLen) {
  using namespace jitgate;
  try {
    if (!cert || !caKeys || !principal || !*principal || !target || !*target || !source ||
        now < 0 || (!krl && krlLen))
      return answer(JITGATE_CERT_BAD_ARGUMENT, "missing argument", why, whyLen);
    std::string line = certificateFromAuthInfo(cert);
    if (line.empty())
      return answer(JITGATE_CERT_MALFORMED, "malformed: no certificate in the input", why, whyLen);
    auto parsed = parseSshCertificateLine(line);
    if (!parsed)
      return answer(JITGATE_CERT_MALFORMED, "malformed: " + parsed.refusal().message, why, whyLen);

    CertExpectations x;
    auto keys = parseTrustedCaKeys(caKeys);
    if (!keys) return answer(JITGATE_CERT_BAD_CA_KEYS, keys.refusal().describe(), why, whyLen);
    x.trustedCaKeys = std::move(*keys);
    if (krl && krlLen) {
      auto revoked = parseKrl(std::string_view(reinterpret_cast<const char*>(krl), krlLen));
      if (!revoked)
        return answer(JITGATE_CERT_BAD_KRL, "KRL: " + revoked.refusal().message, why, whyLen);
      x.revoked = std::move(*revoked);
    }
    auto addr = IpAddress::parse(source);
    if (!addr) return answer(JITGATE_CERT_BAD_ARGUMENT, "source is not an IP address", why, whyLen);
    x.source = *addr;
    x.principal = principal;
    x.target = target;
    x.now = static_cast<uint64_t>(now);
    std::string reason;
    CertCheck c = checkSshCertificate(*parsed, x, &reason);
    if (c == CertCheck::Ok && validBefore) *validBefore = parsed->validBefore;
    return answer(static_cast<int>(c), reason, why, whyLen);
  } catch (...) {
    return answer(JITGATE_CERT_INTERNAL_ERROR, "internal error", why, whyLen);
  }
}
