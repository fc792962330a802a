// Who an SSH login proves to be: the keys and jitgate certificates that name
// a user, the identities they are checked against (read from the store at a
// bounded rate), and one connection's attempts before authentication.
#pragma once

#include <libssh/libssh.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "jitgate/authority.hpp"
#include "jitgate/engine.hpp"
#include "jitgate/net.hpp"
#include "jitgate/proxy/ssh_login.hpp"
#include "jitgate/result.hpp"
#include "jitgate/ssh_cert.hpp"

namespace jitgate {

// The public key blob of a libssh key (a certificate's whole blob).
Result<std::string> keyBlob(ssh_key key);
bool isCertificateType(enum ssh_keytypes_e t);

// What authentication checks keys against.
struct SshIdentities {
  std::vector<std::string> caBlobs;  // trusted CA keys
  RevokedSerials revoked;
  std::unordered_map<std::string, std::vector<std::string>> keysByUser;  // base64 blobs
  std::string error;              // non-empty: unavailable (authentication fails closed)
  bool storeUnreachable = false;  // why error is set: the store (PostgreSQL) is down
};

// The identities, read at most every two seconds rather than once per
// offered key: anyone can offer keys, and each read costs the loop a store
// query. markStale() (a revoke or an expiry) makes the next get() read again;
// a new or removed user key takes effect within two seconds (removing a user
// also revokes their grants, which cuts their sessions at once).
class SshIdentityCache {
 public:
  using Loader = std::function<SshIdentities()>;
  explicit SshIdentityCache(Loader load) : load_(std::move(load)) {}
  const SshIdentities& get();
  void markStale() { stale_ = true; }

 private:
  Loader load_;
  SshIdentities ids_;
  std::chrono::steady_clock::time_point at_{};
  bool stale_ = true;
};

// Reads trusted CA keys and revocations from the CA, users' keys from the engine.
SshIdentityCache::Loader identitiesFrom(CertificateAuthority& authority, GrantEngine& engine);

// Whether the key `blob` (a certificate when `certificate`) is `user`'s, for
// `target` (empty: a forwarding login, where a certificate for any of the
// user's targets proves who they are and the grants decide each channel).
// `why` names the key or certificate, or says why not.
bool keyProvesUser(SshIdentityCache& ids, const std::string& user, const std::string& target,
                   const std::string& blob, bool certificate, const IpAddress& source, SysTime now,
                   std::string& why);

// One connection's authentication. Identity comes only from a key whose
// signature libssh has verified (SSH_PUBLICKEY_STATE_VALID); a merely offered
// key only gets "would be acceptable" (or not), computed the same way.
class SshAuthentication {
 public:
  SshAuthentication(SshIdentityCache& ids, int maxAuthAttempts, std::string source,
                    const IpAddress& sourceIp)
      : ids_(ids), maxAttempts_(maxAuthAttempts), source_(std::move(source)), sourceIp_(sourceIp) {}

  enum class Verdict {
    Acceptable,     // an offered key that would do
    Denied,         // not this key (audit, if set, is to be recorded now)
    Authenticated,  // signed by the user's key: login and why are set
    Refused,        // the connection ends: why is the client's message, audit its entry
  };
  struct Answer {
    Verdict verdict = Verdict::Denied;
    SshLogin login;
    std::string why;
    std::optional<AuditEntry> audit;
  };
  // `state` is libssh's SSH_PUBLICKEY_STATE_* for the attempt.
  Answer attempt(const std::string& rawUser, const Result<std::string>& blob, bool certificate,
                 char state, SysTime now);
  // A refusal of offered keys nobody owns, audited once if the connection
  // ends without authenticating.
  std::optional<AuditEntry> takeUnaudited();

 private:
  SshIdentityCache& ids_;
  int maxAttempts_;
  std::string source_;
  IpAddress sourceIp_;
  int signedAttempts_ = 0, offers_ = 0;
  std::optional<AuditEntry> unaudited_;
};

}  // namespace jitgate
