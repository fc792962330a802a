// jitgate's certificate authority as the daemon runs it: the CA keys in the
// state directory, certificates issued for grants (and recorded), rotation,
// and the KRL kept current as grants are revoked. The certificate formats
// themselves live in the certs component (docs/CERTIFICATES.md).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "jitgate/engine.hpp"
#include "jitgate/ssh_cert.hpp"
#include "jitgate/ssh_key.hpp"
#include "jitgate/store.hpp"
#include "jitgate/x509_ca.hpp"

namespace jitgate {

struct AuthorityOptions {
  std::string stateDir;  // keys go to <stateDir>/ca (0700)
  KeyAlgorithm sshAlgorithm = KeyAlgorithm::Ed25519;
  std::string upnDomain = "jitgate";  // UPN SAN domain of X.509 client certificates
  Seconds clockSkew{60};              // valid_after = grant start - skew
};

struct SshCertificateIssued {
  std::string line;       // "ssh-ed25519-cert-v01@openssh.com AAAA... keyid"
  std::string principal;  // the one principal: "<user>@<target>"
  IssuedCertificate record;
};

struct X509CertificateIssued {
  X509Issued material;
  IssuedCertificate record;
};

class CertificateAuthority {
 public:
  // Loads the CA keys, creating them on first start; subscribes to the
  // engine so that the KRL is rewritten whenever a grant is revoked, and
  // writes it once now.
  static Result<std::unique_ptr<CertificateAuthority>> open(Store& store, GrantEngine& engine,
                                                            const Clock& clock,
                                                            AuthorityOptions options);
  ~CertificateAuthority();

  // For a grant's user (or an admin): an OpenSSH user certificate for
  // `publicKeyLine`, principal = "<user>@<target>" (targetPrincipal), valid from the grant's
  // start (less the skew) to its end, source-address = the grant's source.
  // Only for grants on the target's SSH port.
  Result<SshCertificateIssued> issueSsh(const std::string& actor, bool actorIsAdmin,
                                        const std::string& grantId,
                                        const std::string& publicKeyLine);
  // The bastion's own hop to a target for a session under `grantId` (an
  // active grant on the target's SSH port): principal = "<login>@<target>", valid from
  // now (less the skew) to the grant's end, source-address = the bastion's
  // address on that hop. `subjectKey` is the session's fresh key blob.
  Result<SshCertificateIssued> issueHop(const std::string& grantId, const std::string& login,
                                        const IpAddress& bastionAddress,
                                        const std::string& subjectKey,
                                        const std::string& subjectFingerprint);
  // A client key and X.509 certificate for WinRM over HTTPS; only for grants
  // on the target's WinRM HTTPS port.
  Result<X509CertificateIssued> issueX509(const std::string& actor, bool actorIsAdmin,
                                          const std::string& grantId);

  // TrustedUserCAKeys lines: the signing key, and retired keys whose
  // certificates may still be valid.
  Result<std::vector<CaKeyRecord>> trustedSshKeys();
  std::string x509CaPem() const;
  const X509Authority& x509() const { return *x509_; }
  // The KRL (PROTOCOL.krl) of every still-valid certificate of a revoked grant.
  Result<std::string> krl();
  const std::string& krlPath() const { return krlPath_; }
  Result<std::set<uint64_t>> revokedX509Serials();
  // A new SSH signing key signs from now on; the old one stays trusted until
  // its last certificate expires.
  // (The configured algorithm unless one is given.)
  Result<CaKeyRecord> rotateSsh(const std::string& actor,
                                std::optional<KeyAlgorithm> algorithm = std::nullopt);
  // True while <state_dir>/revoked.krl could not be rewritten after a revoke.
  bool krlStale() const { return krlStale_; }

 private:
  CertificateAuthority(Store& store, GrantEngine& engine, const Clock& clock,
                       AuthorityOptions options);
  Status loadOrCreateSsh();
  Status loadOrCreateX509();
  Status recordNewKey(CaKeyRecord& rec, const std::string& detail);
  Status writeKrl();
  void refreshKrl(const std::string& why);
  Result<Grant> grantFor(const std::string& actor, bool actorIsAdmin, const std::string& grantId,
                         bool ssh);
  // Draws a fresh serial, has `sign` make the certificate with it, and
  // records certificate and audit entry in one transaction.
  Status commit(IssuedCertificate& record, const std::string& actor, const Grant& g,
                const std::function<Status(uint64_t serial)>& sign);
  // Signs `req` with the SSH CA key under a fresh serial (key id
  // "<keyIdPrefix> serial=N") and records it for grant `g`.
  Result<SshCertificateIssued> signSsh(SshCertRequest req, const std::string& actor, const Grant& g,
                                       const std::string& subjectFingerprint,
                                       const std::string& keyIdPrefix, const std::string& comment);

  Store& store_;
  GrantEngine& engine_;
  const Clock& clock_;
  AuthorityOptions options_;
  std::string caDir_;
  std::string krlPath_;
  std::optional<SigningKey> sshKey_;
  CaKeyRecord sshRecord_;
  std::optional<X509Authority> x509_;
  int64_t x509KeyId_ = 0;
  int listener_ = 0;
  bool krlStale_ = false;
};

}  // namespace jitgate
