// libFuzzer: OpenSSH certificates (raw blobs and "TYPE BASE64" lines) and
// KRLs. Whatever parses is checked against a CA key made at start-up, which
// no input can carry a valid signature from: the check must never say Ok.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "jitgate/ssh_cert.hpp"
#include "jitgate/ssh_key.hpp"

namespace {

const jitgate::CertExpectations& fixedCa() {
  static const jitgate::CertExpectations expect = [] {
    jitgate::CertExpectations x;
    auto ca = jitgate::SigningKey::generate(jitgate::KeyAlgorithm::Ed25519);
    if (!ca) std::abort();
    x.trustedCaKeys = {ca->publicBlob()};
    x.principal = "alice";
    x.target = "vm1";
    x.source = jitgate::IpAddress::fromV4(0x0a000001);  // 10.0.0.1
    x.now = 1767225600;                                 // 2026-01-01T00:00:00Z
    return x;
  }();
  return expect;
}

void check(const jitgate::SshCertificate& cert) {
  if (jitgate::checkSshCertificate(cert, fixedCa(), nullptr) == jitgate::CertCheck::Ok)
    std::abort();
  // Then trust whatever key signed it, so that the signature parser and the
  // checks after it (principals, validity, critical options, revocation)
  // see fuzzed data too. Seeds signed by ssh-keygen pass here; nothing is
  // asserted about the verdict, only that reaching it is safe.
  jitgate::CertExpectations self;
  self.trustedCaKeys = {cert.signatureKey};
  // The first principal's login part, and any target (the bastion's
  // ProxyJump check), so that the target-scoped comparison sees fuzzed data.
  std::string first = cert.principals.empty() ? std::string("alice") : cert.principals.front();
  self.principal = first.substr(0, first.find('@'));
  self.anyTarget = true;
  self.source = jitgate::IpAddress::fromV4(0x0a000001);
  self.now = cert.validAfter;
  self.revoked[""] = {{cert.serial, cert.serial}};
  std::string why;
  (void)jitgate::checkSshCertificate(cert, self, &why);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  if (auto c = jitgate::parseSshCertificate(bytes)) check(*c);
  if (auto c = jitgate::parseSshCertificateLine(bytes)) check(*c);
  if (auto krl = jitgate::parseKrl(bytes)) {
    for (const auto& [caKey, ranges] : *krl)
      for (const auto& [lo, hi] : ranges)
        if (lo > hi || !jitgate::isRevoked(*krl, caKey, lo)) std::abort();
  }
  return 0;
}
