// SSH authentication: keys, certificates, the identity cache, attempts.
#include "ssh_auth.hpp"

#include "jitgate/handle.hpp"
#include "jitgate/proxy/session_registry.hpp"
#include "jitgate/ssh_key.hpp"
#include "jitgate/ssh_wire.hpp"
#include "jitgate/text.hpp"

namespace jitgate {

Result<std::string> keyBlob(ssh_key key) {
  char* b64 = nullptr;
  if (ssh_pki_export_pubkey_base64(key, &b64) != SSH_OK || !b64)
    return invalid("key", "cannot export the key");
  SshCharPtr owned(b64);
  std::string blob;
  if (!base64Decode(b64, blob)) return invalid("key", "key data is not base64");
  return blob;
}

bool isCertificateType(enum ssh_keytypes_e t) {
  switch (t) {
    case SSH_KEYTYPE_RSA_CERT01:
    case SSH_KEYTYPE_ECDSA_P256_CERT01:
    case SSH_KEYTYPE_ECDSA_P384_CERT01:
    case SSH_KEYTYPE_ECDSA_P521_CERT01:
    case SSH_KEYTYPE_ED25519_CERT01:
    case SSH_KEYTYPE_DSS_CERT01:
    case SSH_KEYTYPE_SK_ECDSA_CERT01:
    case SSH_KEYTYPE_SK_ED25519_CERT01:
      return true;
    default:
      return false;
  }
}

const SshIdentities& SshIdentityCache::get() {
  auto now = std::chrono::steady_clock::now();
  if (!stale_ && now - at_ < std::chrono::seconds(2)) return ids_;
  auto next = load_();
  // An unreachable store keeps the keys known before it: the user
  // authenticates, then hears why nothing passes (decide() refuses
  // everything with store_unavailable meanwhile).
  if (next.storeUnreachable && ids_.error.empty() && !ids_.keysByUser.empty()) return ids_;
  ids_ = std::move(next);
  at_ = now;
  stale_ = !ids_.error.empty();
  return ids_;
}

SshIdentityCache::Loader identitiesFrom(CertificateAuthority& authority, GrantEngine& engine) {
  return [&authority, &engine] {
    SshIdentities next;
    auto cas = authority.trustedSshKeys();
    auto krl = authority.krl();
    auto users = engine.users();
    if (!cas || !krl || !users) {
      next.error = "the store is unavailable";
      next.storeUnreachable = (!users && users.refusal().code == RefusalCode::StoreUnavailable) ||
                              (!cas && cas.refusal().code == RefusalCode::StoreUnavailable);
      return next;
    }
    std::string lines;
    for (const auto& c : *cas) lines += c.publicKey + "\n";
    auto blobs = parseTrustedCaKeys(lines);
    auto revoked = parseKrl(*krl);
    if (!blobs || !revoked) {
      next.error = "trusted CA keys or revocation list unreadable";
      return next;
    }
    next.caBlobs = std::move(*blobs);
    next.revoked = std::move(*revoked);
    for (const auto& u : *users)
      for (const auto& k : u.keys) next.keysByUser[u.name].push_back(k.base64);
    return next;
  };
}

bool keyProvesUser(SshIdentityCache& cache, const std::string& user, const std::string& target,
                   const std::string& blob, bool certificate, const IpAddress& source, SysTime now,
                   std::string& why) {
  if (certificate) {
    auto cert = parseSshCertificate(blob);
    if (!cert) {
      why = "certificate: " + cert.refusal().message;
      return false;
    }
    const auto& ids = cache.get();
    if (!ids.error.empty()) {
      why = ids.error;
      return false;
    }
    CertExpectations expect;
    expect.trustedCaKeys = ids.caBlobs;
    expect.principal = user;
    expect.target = target;
    expect.anyTarget = target.empty();
    expect.source = source;
    expect.now = static_cast<uint64_t>(now.time_since_epoch().count());
    expect.revoked = ids.revoked;
    std::string detail;
    auto check = checkSshCertificate(*cert, expect, &detail);
    if (check != CertCheck::Ok) {
      why = "certificate refused: " + std::string(toString(check)) +
            (detail.empty() ? "" : " (" + detail + ")");
      return false;
    }
    why = "certificate serial " + std::to_string(cert->serial);
    return true;
  }
  const auto& ids = cache.get();
  if (!ids.error.empty()) {
    why = ids.error;
    return false;
  }
  std::string b64 = base64Encode(blob);
  std::string fingerprint = sshFingerprint(blob);
  if (auto it = ids.keysByUser.find(user); it != ids.keysByUser.end()) {
    for (const auto& k : it->second) {
      if (k == b64) {
        why = "key " + fingerprint;
        return true;
      }
    }
  }
  why = "key " + fingerprint + " is not registered to " + user;
  return false;
}

SshAuthentication::Answer SshAuthentication::attempt(const std::string& rawUser,
                                                     const Result<std::string>& blob,
                                                     bool certificate, char state, SysTime now) {
  Answer a;
  bool signedAttempt = state == SSH_PUBLICKEY_STATE_VALID;
  if (signedAttempt ? ++signedAttempts_ > maxAttempts_ : ++offers_ > 4 * maxAttempts_) {
    a.verdict = Verdict::Refused;
    a.why = "jitgate: too many authentication attempts";
    a.audit = refusalEntry("ssh", "", "", std::nullopt, source_, SessionRefusal::TooManyAttempts,
                           "too many authentication attempts");
    return a;
  }
  auto login = parseSshLogin(rawUser);
  if (!login) {
    // Nothing about this name is usable; refuse the connection with the reason.
    a.verdict = Verdict::Refused;
    a.why = "jitgate: " + login.refusal().message;
    a.audit = refusalEntry("ssh", "", "", std::nullopt, source_, SessionRefusal::MalformedUser,
                           login.refusal().message);
    return a;
  }
  std::string why;
  bool ok = blob ? keyProvesUser(ids_, login->user, login->target, *blob, certificate, sourceIp_,
                                 now, why)
                 : (why = blob.refusal().message, false);
  why = printable(why, 256);  // may quote what an unauthenticated client sent
  auto refusal = [&] {
    return refusalEntry("ssh", login->user, login->target, std::nullopt, source_,
                        SessionRefusal::AuthenticationFailed, why);
  };
  if (state == SSH_PUBLICKEY_STATE_NONE) {
    if (!ok) unaudited_ = refusal();  // audited once, when the connection ends unauthenticated
    a.verdict = ok ? Verdict::Acceptable : Verdict::Denied;
    return a;
  }
  if (!signedAttempt) return a;  // a signature that did not verify
  unaudited_.reset();
  if (!ok) {
    a.audit = refusal();
    return a;
  }
  a.verdict = Verdict::Authenticated;
  a.login = std::move(*login);
  a.why = why;
  return a;
}

std::optional<AuditEntry> SshAuthentication::takeUnaudited() {
  auto e = std::move(unaudited_);
  unaudited_.reset();
  return e;
}

}  // namespace jitgate
