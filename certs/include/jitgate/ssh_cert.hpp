// OpenSSH user certificates (PROTOCOL.certkeys): issuing them for a grant,
// parsing them, and checking them ourselves, since libssh checks nothing.
// The fields jitgate sets are described in docs/CERTIFICATES.md.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "jitgate/net.hpp"
#include "jitgate/result.hpp"
#include "jitgate/ssh_key.hpp"
#include "jitgate/timefmt.hpp"

namespace jitgate {

struct SshCertificate {
  std::string certType;  // ssh-ed25519-cert-v01@openssh.com, ...
  std::string keyBlob;   // the certified public key, as a plain key blob
  uint64_t serial = 0;
  uint32_t type = 0;  // 1 = user, 2 = host
  std::string keyId;
  std::vector<std::string> principals;
  uint64_t validAfter = 0;
  uint64_t validBefore = 0;
  std::vector<std::pair<std::string, std::string>> criticalOptions;  // name, value
  std::vector<std::pair<std::string, std::string>> extensions;       // name, value
  std::string signatureKey;                                          // the CA's public key blob
  std::string signature;
  std::string signedData;  // what the signature covers
};

// Parses a certificate blob; refuses truncation, trailing bytes, unknown
// certificate types, and option lists that are not sorted and unique.
Result<SshCertificate> parseSshCertificate(std::string_view blob);
// "TYPE BASE64 [COMMENT]" as in a -cert.pub file or SSH_AUTH_INFO_0.
Result<SshCertificate> parseSshCertificateLine(std::string_view line);

// The certificate's "TYPE BASE64" out of a key line or sshd's
// SSH_AUTH_INFO_0 ("publickey TYPE BASE64", one line per method used);
// empty when there is none.
std::string certificateFromAuthInfo(std::string_view text);

// The CA key blobs of a TrustedUserCAKeys text (one key per line; '#'
// comments and blank lines allowed). An unreadable line or no key at all
// is refused: a trust list we cannot read must not shrink silently.
Result<std::vector<std::string>> parseTrustedCaKeys(std::string_view text);

struct SshCertRequest {
  std::string subjectKey;  // plain public key blob of the user's key
  uint64_t serial = 0;
  std::string keyId;
  std::vector<std::string> principals;  // never empty: empty means "anyone"
  SysTime validAfter{};
  SysTime validBefore{};
  std::vector<Cidr> sourceAddresses;    // the source-address critical option
  std::vector<std::string> extensions;  // e.g. permit-pty
};

// Signs a user certificate; returns its blob.
Result<std::string> issueSshCertificate(const SigningKey& ca, const SshCertRequest& req);
std::string sshCertificateLine(std::string_view blob, std::string_view comment);

// Why a certificate is not accepted: one list, each with a stable name.
enum class CertCheck {
  Ok,
  Malformed,
  NotUserCertificate,
  UntrustedCa,
  ChainedCa,
  BadSignature,
  NoPrincipals,
  WrongPrincipal,
  NotYetValid,
  Expired,
  UnknownCriticalOption,
  SourceNotAllowed,
  Revoked,
  WrongTarget,
};
std::string_view toString(CertCheck c);

// Inclusive serial ranges, per CA key blob.
using RevokedSerials = std::map<std::string, std::vector<std::pair<uint64_t, uint64_t>>>;
bool isRevoked(const RevokedSerials& revoked, const std::string& caKey, uint64_t serial);

struct CertExpectations {
  std::vector<std::string> trustedCaKeys;  // CA public key blobs
  std::string principal;                   // the login
  // The target this check runs for: the certificate must list the
  // target-scoped principal "<login>@<target>" (targetPrincipal()). Empty
  // refuses every certificate, unless anyTarget is set: the bastion's own
  // identity check for a ProxyJump login, whose target is decided per
  // channel by the grants.
  std::string target;
  bool anyTarget = false;
  IpAddress source;  // where the connection comes from
  uint64_t now = 0;  // seconds since the epoch, UTC
  // Revoked serials per CA key blob ("" holds those revoked for any CA).
  RevokedSerials revoked;
};

// The principal jitgate puts in a certificate for `login` on `target`: a
// target's sshd accepts it only through its AuthorizedPrincipalsCommand (or
// File) line naming that target (docs/CERTIFICATES.md). Names hold no '@',
// so the split is unambiguous.
std::string targetPrincipal(std::string_view login, std::string_view target);

CertCheck checkSshCertificate(const SshCertificate& cert, const CertExpectations& expect,
                              std::string* why);

// OpenSSH key revocation lists (PROTOCOL.krl), serial lists only.
struct KrlEntry {
  std::string caKey;  // CA public key blob
  std::vector<uint64_t> serials;
};
std::string buildKrl(const std::vector<KrlEntry>& entries, uint64_t version, SysTime generated,
                     std::string_view comment);
// Reads the certificate serial lists and ranges of a KRL. Any other section
// (explicit keys, key ids, fingerprints, signatures) is refused rather than
// ignored: a revocation we cannot read must not pass as "not revoked".
Result<RevokedSerials> parseKrl(std::string_view blob);

}  // namespace jitgate
