// The X.509 side of jitgate's CA: short-lived client certificates for WinRM
// over HTTPS, and the verifier that admits them. The fields we set are the
// contract with Windows' certificate mapping (UPN SAN) and with ourselves
// (the grant id in a SAN URI).
#pragma once

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <string_view>

#include "jitgate/result.hpp"
#include "jitgate/timefmt.hpp"

namespace jitgate {

namespace detail {
struct X509AuthorityState;  // the OpenSSL handles, kept out of this header
}

struct X509ClientSpec {
  std::string user;             // subject CN: 1..64 of [A-Za-z0-9._-]
  std::string upnDomain;        // UPN SAN = user@upnDomain; empty means "jitgate"
  std::string grantId;          // SAN URI urn:jitgate:grant:<id>, id 1..64 of [A-Za-z0-9._-]
  std::string target;           // SAN URI urn:jitgate:target:<name>: the grant's target
  uint64_t serial = 0;          // nonzero, < 2^63
  SysTime notBefore, notAfter;  // notAfter > notBefore; the certificate is valid in
                                // [notBefore, notAfter), as OpenSSL's verifier reads it
};

// The key is a secret: every copy of this struct wipes its key text when it
// is destroyed or overwritten. A copy the caller takes out of it is theirs to
// wipe.
struct X509Issued {
  std::string keyPem;  // PKCS#8, unencrypted
  std::string certPem;
  uint64_t serial = 0;

  X509Issued() = default;
  X509Issued(const X509Issued& other);
  X509Issued(X509Issued&& other) noexcept;
  X509Issued& operator=(const X509Issued& other);
  X509Issued& operator=(X509Issued&& other) noexcept;
  ~X509Issued();
};

struct X509Verified {
  std::string user;
  std::string grantId;
  std::string target;  // the one target the certificate is for
  uint64_t serial = 0;
  SysTime notBefore, notAfter;
};

// Why a client certificate was refused; one list, each with a stable name.
// Unavailable is not about the certificate: OpenSSL itself failed (out of
// memory), and the certificate is refused because it could not be checked.
enum class X509Check {
  Ok,
  Malformed,
  UntrustedIssuer,
  BadSignature,
  NotYetValid,
  Expired,
  NotClientAuth,
  NoGrantId,
  NoTarget,
  Revoked,
  Unavailable,
};
std::string_view toString(X509Check check);

// The largest PEM text (key or certificate) we parse.
inline constexpr size_t kMaxX509PemBytes = 64 * 1024;

class X509Authority {
 public:
  // A new CA: ECDSA P-256 key, self-signed certificate with CN = commonName
  // (1..64 printable ASCII characters), basicConstraints CA:TRUE critical,
  // keyUsage keyCertSign+cRLSign critical, SKI, valid now-1h .. now+10y.
  static Result<X509Authority> create(const std::string& commonName, SysTime now);
  // Loads a CA from PEM (key in PKCS#8 or traditional form, unencrypted; the
  // certificate). Refuses a certificate that is not a CA (basicConstraints
  // CA:TRUE, and keyCertSign when keyUsage is present), a key that is not
  // EC or RSA, and a key that does not match the certificate.
  static Result<X509Authority> fromPem(const std::string& keyPem, const std::string& certPem);

  // Move-only; a moved-from authority may only be destroyed or assigned to.
  // Its methods are safe to call from several threads at once.
  X509Authority(X509Authority&&) noexcept;
  X509Authority& operator=(X509Authority&&) noexcept;
  ~X509Authority();

  // PKCS#8 PEM, unencrypted: the caller stores it 0600 and wipes its copy.
  std::string keyPem() const;
  std::string certPem() const;

  // A fresh ECDSA P-256 client key and a certificate for it: subject
  // CN=user, SAN UPN + grant URI, EKU clientAuth only, keyUsage
  // digitalSignature critical, basicConstraints CA:FALSE, SKI, AKI, signed
  // with SHA-256. Refuses a window that outlives the CA's own certificate.
  Result<X509Issued> issueClient(const X509ClientSpec& spec) const;

  // Checks a PEM client certificate at `now`: it chains to this CA (and to
  // nothing else), carries EKU clientAuth, is inside its validity, its
  // serial is not in `revoked`, and it names its user (CN, matching the UPN),
  // its grant and its target (the caller compares that one with where the
  // connection goes). A refusal's message starts with toString(check), e.g.
  // "expired: ...".
  Result<X509Verified> verify(std::string_view certPem, SysTime now,
                              const std::set<uint64_t>& revoked) const;
  // The same check, with the code for callers that branch on it. `out` is
  // filled only on Ok; `why` gets the same text as verify()'s refusal
  // message (empty on Ok). Either may be null.
  X509Check check(std::string_view certPem, SysTime now, const std::set<uint64_t>& revoked,
                  X509Verified* out, std::string* why) const;

 private:
  explicit X509Authority(std::unique_ptr<detail::X509AuthorityState> state);
  std::unique_ptr<detail::X509AuthorityState> state_;
};

}  // namespace jitgate
