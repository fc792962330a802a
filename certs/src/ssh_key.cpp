// SigningKey and SSH signature checks on OpenSSL: key generation, PEM in and
// out, OpenSSH public blobs, signing and verifying.
#include "jitgate/ssh_key.hpp"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include <cstring>
#include <vector>

#include "jitgate/files.hpp"
#include "jitgate/handle.hpp"
#include "jitgate/ssh_wire.hpp"

namespace jitgate {
namespace {

Refusal sslError(const std::string& what) {
  unsigned long e = ERR_get_error();
  char buf[256] = "unknown error";
  if (e) ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return Refusal{RefusalCode::Unavailable, "", what + ": " + buf};
}

Refusal badKey(const std::string& why) { return invalid("key", why); }

std::string bnBytes(const BIGNUM* bn) {
  std::string out(static_cast<size_t>(BN_num_bytes(bn)), '\0');
  BN_bn2bin(bn, reinterpret_cast<unsigned char*>(out.data()));
  return out;
}

struct EcCurve {
  std::string_view sshName;    // nistp256
  std::string_view groupName;  // prime256v1
  const EVP_MD* (*md)();
};
constexpr EcCurve kCurves[] = {{"nistp256", "prime256v1", EVP_sha256},
                               {"nistp384", "secp384r1", EVP_sha384},
                               {"nistp521", "secp521r1", EVP_sha512}};

const EcCurve* curveBySshName(std::string_view n) {
  for (const auto& c : kCurves)
    if (c.sshName == n) return &c;
  return nullptr;
}

Result<std::string> makePublicBlob(EVP_PKEY* k, KeyAlgorithm alg) {
  SshWriter w;
  switch (alg) {
    case KeyAlgorithm::Ed25519: {
      unsigned char pk[32];
      size_t len = sizeof pk;
      if (EVP_PKEY_get_raw_public_key(k, pk, &len) != 1 || len != 32)
        return sslError("ed25519 public key");
      w.string("ssh-ed25519").string(std::string_view(reinterpret_cast<char*>(pk), len));
      break;
    }
    case KeyAlgorithm::EcdsaP256: {
      unsigned char q[133];
      size_t len = 0;
      if (EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, q, sizeof q,
                                          &len) != 1 ||
          len != 65)
        return sslError("ecdsa public key");
      w.string("ecdsa-sha2-nistp256")
          .string("nistp256")
          .string(std::string_view(reinterpret_cast<char*>(q), len));
      break;
    }
    case KeyAlgorithm::Rsa3072: {
      BIGNUM* n = nullptr;
      BIGNUM* e = nullptr;
      if (EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_N, &n) != 1 ||
          EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_E, &e) != 1) {
        BN_free(n);
        BN_free(e);
        return sslError("rsa public key");
      }
      BignumPtr np(n), ep(e);
      w.string("ssh-rsa").mpint(bnBytes(ep.get())).mpint(bnBytes(np.get()));
      break;
    }
  }
  return w.take();
}

Result<KeyAlgorithm> algorithmOf(EVP_PKEY* k) {
  if (EVP_PKEY_is_a(k, "ED25519")) return KeyAlgorithm::Ed25519;
  if (EVP_PKEY_is_a(k, "EC")) {
    char group[64] = {0};
    size_t len = 0;
    if (EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, &len) ==
            1 &&
        std::string_view(group) == "prime256v1")
      return KeyAlgorithm::EcdsaP256;
    return badKey("only the P-256 curve is supported for CA keys");
  }
  if (EVP_PKEY_is_a(k, "RSA")) {
    if (EVP_PKEY_get_bits(k) < 3072) return badKey("RSA CA keys must be at least 3072 bits");
    return KeyAlgorithm::Rsa3072;
  }
  return badKey("unsupported key algorithm");
}

// A public key object from an SSH public key blob.
Result<EvpPkeyPtr> publicKeyFromBlob(std::string_view blob, std::string& type, const EVP_MD** md) {
  SshReader r(blob);
  std::string_view t;
  if (!r.string(t)) return badKey("truncated key blob");
  type = std::string(t);
  if (t == "ssh-ed25519") {
    std::string_view pk;
    if (!r.string(pk) || pk.size() != 32 || !r.empty()) return badKey("malformed ed25519 key");
    EVP_PKEY* k = EVP_PKEY_new_raw_public_key(
        EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(pk.data()), pk.size());
    if (!k) return sslError("ed25519 key");
    *md = nullptr;
    return EvpPkeyPtr(k);
  }
  if (t.rfind("ecdsa-sha2-", 0) == 0) {
    std::string_view curve, q;
    if (!r.string(curve) || !r.string(q) || !r.empty()) return badKey("malformed ecdsa key");
    const EcCurve* c = curveBySshName(curve);
    if (!c || t.substr(11) != curve) return badKey("unsupported or mismatched ecdsa curve");
    OsslParamBldPtr bld(OSSL_PARAM_BLD_new());
    if (!bld ||
        !OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, c->groupName.data(),
                                         0) ||
        !OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, q.data(), q.size()))
      return sslError("ecdsa params");
    OsslParamPtr params(OSSL_PARAM_BLD_to_param(bld.get()));
    EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
    EVP_PKEY* k = nullptr;
    if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
        EVP_PKEY_fromdata(ctx.get(), &k, EVP_PKEY_PUBLIC_KEY, params.get()) != 1)
      return badKey("invalid ecdsa public key");
    *md = c->md();
    return EvpPkeyPtr(k);
  }
  if (t == "ssh-rsa") {
    std::string_view e, n;
    if (!r.string(e) || !r.string(n) || !r.empty()) return badKey("malformed rsa key");
    BignumPtr be(BN_bin2bn(reinterpret_cast<const unsigned char*>(e.data()),
                           static_cast<int>(e.size()), nullptr));
    BignumPtr bn(BN_bin2bn(reinterpret_cast<const unsigned char*>(n.data()),
                           static_cast<int>(n.size()), nullptr));
    if (!be || !bn) return sslError("rsa numbers");
    if (BN_num_bits(bn.get()) < 2048) return badKey("RSA keys under 2048 bits are refused");
    OsslParamBldPtr bld(OSSL_PARAM_BLD_new());
    if (!bld || !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn.get()) ||
        !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, be.get()))
      return sslError("rsa params");
    OsslParamPtr params(OSSL_PARAM_BLD_to_param(bld.get()));
    EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr));
    EVP_PKEY* k = nullptr;
    if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
        EVP_PKEY_fromdata(ctx.get(), &k, EVP_PKEY_PUBLIC_KEY, params.get()) != 1)
      return badKey("invalid rsa public key");
    *md = nullptr;  // chosen by the signature algorithm
    return EvpPkeyPtr(k);
  }
  return badKey("unsupported key type '" + std::string(t.substr(0, 64)) + "'");
}

}  // namespace

std::string_view toString(KeyAlgorithm a) {
  switch (a) {
    case KeyAlgorithm::Ed25519:
      return "ed25519";
    case KeyAlgorithm::EcdsaP256:
      return "ecdsa-p256";
    case KeyAlgorithm::Rsa3072:
      return "rsa-3072";
  }
  return "unknown";
}

Result<KeyAlgorithm> parseKeyAlgorithm(std::string_view s) {
  if (s == "ed25519") return KeyAlgorithm::Ed25519;
  if (s == "ecdsa-p256") return KeyAlgorithm::EcdsaP256;
  if (s == "rsa-3072") return KeyAlgorithm::Rsa3072;
  return invalid("algorithm", "must be ed25519, ecdsa-p256 or rsa-3072");
}

SigningKey::SigningKey(EvpPkeyPtr key, KeyAlgorithm algorithm, std::string blob)
    : key_(key.release(), EVP_PKEY_free), algorithm_(algorithm), publicBlob_(std::move(blob)) {}

Result<SigningKey> SigningKey::generate(KeyAlgorithm algorithm) {
  EVP_PKEY* k = nullptr;
  switch (algorithm) {
    case KeyAlgorithm::Ed25519:
      k = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
      break;
    case KeyAlgorithm::EcdsaP256:
      k = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
      break;
    case KeyAlgorithm::Rsa3072:
      k = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(3072));
      break;
  }
  if (!k) return sslError("key generation");
  EvpPkeyPtr key(k);
  auto blob = makePublicBlob(key.get(), algorithm);
  if (!blob) return blob.refusal();
  return SigningKey(std::move(key), algorithm, std::move(*blob));
}

Result<SigningKey> SigningKey::fromPem(std::string_view pem) {
  if (pem.size() > 64 * 1024) return badKey("key file larger than 64 KiB");
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return sslError("BIO");
  EVP_PKEY* k = PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr);
  if (!k) return sslError("reading the private key");
  EvpPkeyPtr key(k);
  auto alg = algorithmOf(key.get());
  if (!alg) return alg.refusal();
  auto blob = makePublicBlob(key.get(), *alg);
  if (!blob) return blob.refusal();
  return SigningKey(std::move(key), *alg, std::move(*blob));
}

Result<SigningKey> SigningKey::load(const std::string& path) {
  auto pem = readRestrictedFile(path, privateFileRules("key"));
  if (!pem) return pem.refusal();
  auto key = fromPem(*pem);
  OPENSSL_cleanse(pem->data(), pem->size());
  return key;
}

Status SigningKey::save(const std::string& path) const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio ||
      PEM_write_bio_PrivateKey(bio.get(), key_.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1)
    return sslError("encoding the private key");
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  auto written = writeFileAtomically(path, std::string_view(data, static_cast<size_t>(len)), 0600,
                                     Replace::Never);
  OPENSSL_cleanse(data, static_cast<size_t>(len));
  if (!written) return Refusal{RefusalCode::Unavailable, "key", written.refusal().message};
  return okStatus();
}

std::string SigningKey::publicLine(std::string_view comment) const {
  auto type = sshKeyType(publicBlob_);
  std::string line = (type ? *type : std::string("?")) + " " + base64Encode(publicBlob_);
  if (!comment.empty()) line += " " + std::string(comment);
  return line;
}

Result<std::string> SigningKey::sign(std::string_view data) const {
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx) return sslError("digest context");
  const EVP_MD* md = nullptr;
  const char* alg = "ssh-ed25519";
  if (algorithm_ == KeyAlgorithm::EcdsaP256) md = EVP_sha256(), alg = "ecdsa-sha2-nistp256";
  if (algorithm_ == KeyAlgorithm::Rsa3072) md = EVP_sha512(), alg = "rsa-sha2-512";
  if (EVP_DigestSignInit(ctx.get(), nullptr, md, nullptr, key_.get()) != 1)
    return sslError("sign init");
  size_t len = 0;
  auto in = reinterpret_cast<const unsigned char*>(data.data());
  if (EVP_DigestSign(ctx.get(), nullptr, &len, in, data.size()) != 1) return sslError("sign");
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, in,
                     data.size()) != 1)
    return sslError("sign");
  sig.resize(len);
  SshWriter w;
  w.string(alg);
  if (algorithm_ == KeyAlgorithm::EcdsaP256) {
    // OpenSSL gives DER; SSH wants mpint r, mpint s.
    auto p = reinterpret_cast<const unsigned char*>(sig.data());
    EcdsaSigPtr es(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size())));
    if (!es) return sslError("ecdsa signature");
    const BIGNUM *r = nullptr, *s = nullptr;
    ECDSA_SIG_get0(es.get(), &r, &s);
    SshWriter inner;
    inner.mpint(bnBytes(r)).mpint(bnBytes(s));
    w.string(inner.data());
  } else {
    w.string(sig);
  }
  return w.take();
}

Result<std::string> sshKeyType(std::string_view blob) {
  SshReader r(blob);
  std::string_view t;
  if (!r.string(t) || t.empty() || t.size() > 64) return badKey("truncated key blob");
  return std::string(t);
}

Status verifySshSignature(std::string_view keyBlob, std::string_view signature,
                          std::string_view data) {
  std::string keyType;
  const EVP_MD* md = nullptr;
  auto key = publicKeyFromBlob(keyBlob, keyType, &md);
  if (!key) return key.refusal();
  SshReader r(signature);
  std::string_view alg, sig;
  if (!r.string(alg) || !r.string(sig) || !r.empty())
    return invalid("signature", "malformed signature blob");
  std::string der;
  if (keyType == "ssh-ed25519") {
    if (alg != "ssh-ed25519" || sig.size() != 64)
      return invalid("signature", "not an ed25519 signature");
  } else if (keyType.rfind("ecdsa-sha2-", 0) == 0) {
    if (alg != keyType) return invalid("signature", "signature algorithm does not match the key");
    SshReader rs(sig);
    std::string_view rr, ss;
    if (!rs.string(rr) || !rs.string(ss) || !rs.empty())
      return invalid("signature", "malformed ecdsa signature");
    // mpints with the top bit set are negative: sshd refuses them.
    if ((!rr.empty() && (static_cast<uint8_t>(rr[0]) & 0x80)) ||
        (!ss.empty() && (static_cast<uint8_t>(ss[0]) & 0x80)))
      return invalid("signature", "negative ecdsa signature value");
    EcdsaSigPtr es(ECDSA_SIG_new());
    BIGNUM* br = BN_bin2bn(reinterpret_cast<const unsigned char*>(rr.data()),
                           static_cast<int>(rr.size()), nullptr);
    BIGNUM* bs = BN_bin2bn(reinterpret_cast<const unsigned char*>(ss.data()),
                           static_cast<int>(ss.size()), nullptr);
    if (!es || !br || !bs || ECDSA_SIG_set0(es.get(), br, bs) != 1) {
      BN_free(br);
      BN_free(bs);
      return sslError("ecdsa signature");
    }
    int n = i2d_ECDSA_SIG(es.get(), nullptr);
    if (n <= 0) return sslError("ecdsa signature");
    der.resize(static_cast<size_t>(n));
    auto p = reinterpret_cast<unsigned char*>(der.data());
    i2d_ECDSA_SIG(es.get(), &p);
    sig = der;
  } else if (keyType == "ssh-rsa") {
    if (alg == "rsa-sha2-512") {
      md = EVP_sha512();
    } else if (alg == "rsa-sha2-256") {
      md = EVP_sha256();
    } else {
      return invalid("signature", "RSA signatures must be rsa-sha2-256 or rsa-sha2-512");
    }
  }
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, key->get()) != 1)
    return sslError("verify init");
  int rc =
      EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                       reinterpret_cast<const unsigned char*>(data.data()), data.size());
  ERR_clear_error();
  if (rc != 1) return invalid("signature", "signature does not verify");
  return okStatus();
}

std::string sshFingerprint(std::string_view blob) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(blob.data(), blob.size(), md, &len, EVP_sha256(), nullptr);
  std::string b64 = base64Encode(std::string_view(reinterpret_cast<char*>(md), len));
  while (!b64.empty() && b64.back() == '=') b64.pop_back();
  return "SHA256:" + b64;
}

}  // namespace jitgate
