// Keys in OpenSSH's wire format, with OpenSSL underneath: the CA's signing
// keys (Ed25519, ECDSA P-256, RSA-3072) and signature checks against public
// key blobs. No ssh-keygen at run time.
#pragma once

#include <openssl/evp.h>

#include <memory>
#include <string>
#include <string_view>

#include "jitgate/handle.hpp"
#include "jitgate/result.hpp"

namespace jitgate {

enum class KeyAlgorithm { Ed25519, EcdsaP256, Rsa3072 };
std::string_view toString(KeyAlgorithm a);  // ed25519, ecdsa-p256, rsa-3072
Result<KeyAlgorithm> parseKeyAlgorithm(std::string_view s);

// A private key the CA signs with.
class SigningKey {
 public:
  static Result<SigningKey> generate(KeyAlgorithm algorithm);
  // PKCS#8 PEM (unencrypted: the file's mode is its protection).
  static Result<SigningKey> fromPem(std::string_view pem);
  // Reads a key file, refusing one that group or others may read.
  static Result<SigningKey> load(const std::string& path);
  // Writes the key to `path` (mode 0600, created new, written whole, then
  // renamed into place). Refuses to replace an existing file.
  Status save(const std::string& path) const;

  KeyAlgorithm algorithm() const { return algorithm_; }
  // The public key as an SSH blob ("ssh-ed25519" + key), and as a line.
  const std::string& publicBlob() const { return publicBlob_; }
  std::string publicLine(std::string_view comment) const;
  // An SSH signature blob (string algorithm, string signature) over `data`:
  // ssh-ed25519, ecdsa-sha2-nistp256, or rsa-sha2-512.
  Result<std::string> sign(std::string_view data) const;

 private:
  SigningKey(EvpPkeyPtr key, KeyAlgorithm algorithm, std::string blob);
  std::shared_ptr<EVP_PKEY> key_;
  KeyAlgorithm algorithm_;
  std::string publicBlob_;
};

// The key type named at the start of a public key blob ("ssh-ed25519", ...).
Result<std::string> sshKeyType(std::string_view blob);

// Checks an SSH signature blob over `data` against a public key blob. Only
// ssh-ed25519, ecdsa-sha2-nistp256/384/521 and rsa-sha2-256/512 signatures
// are accepted (ssh-rsa with SHA-1 is not).
Status verifySshSignature(std::string_view keyBlob, std::string_view signature,
                          std::string_view data);

// SHA256:base64 (unpadded), as ssh-keygen -l prints it.
std::string sshFingerprint(std::string_view blob);

}  // namespace jitgate
