// X.509 client certificates for WinRM over HTTPS: the CA (made or loaded)
// and the certificates it issues; x509_verify.cpp checks them. Every OpenSSL
// failure becomes a Refusal carrying the library's own error text.
#include "jitgate/x509_ca.hpp"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/buffer.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <chrono>
#include <ctime>
#include <optional>
#include <vector>

#include "jitgate/handle.hpp"
#include "x509_common.hpp"

namespace jitgate {

namespace x509 {

// The OpenSSL error queue, oldest first, capped so a runaway queue cannot
// make a log line unbounded. Draining it also keeps stale errors out of the
// next operation's message.
std::string drainErrors() {
  std::string out;
  int kept = 0;
  while (unsigned long e = ERR_get_error()) {
    if (kept++ == 4) continue;
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? std::string("no OpenSSL error recorded") : out;
}

bool isAsciiAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// Users and grant ids: what survives a Windows account name, a URI and a
// log line unescaped.
bool isToken(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    if (!isAsciiAlnum(c) && c != '.' && c != '_' && c != '-') return false;
  }
  return true;
}

bool isDomain(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find('.', start);
    if (end == std::string_view::npos) end = s.size();
    std::string_view label = s.substr(start, end - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return false;
    }
    for (char c : label) {
      if (!isAsciiAlnum(c) && c != '-') return false;
    }
    start = end + 1;
  }
  return true;
}

time_t toTimeT(SysTime t) { return static_cast<time_t>(t.time_since_epoch().count()); }

std::optional<SysTime> toSysTime(const ASN1_TIME* t) {
  struct tm tm {};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) return std::nullopt;
  using namespace std::chrono;
  year_month_day ymd{year{tm.tm_year + 1900}, month{static_cast<unsigned>(tm.tm_mon + 1)},
                     day{static_cast<unsigned>(tm.tm_mday)}};
  if (!ymd.ok()) return std::nullopt;
  return sys_days{ymd} + hours{tm.tm_hour} + minutes{tm.tm_min} + seconds{tm.tm_sec};
}

}  // namespace x509

using namespace x509;

namespace {

constexpr std::string_view kDefaultUpnDomain = "jitgate";

// Times we are willing to write: from the epoch (negative time_t is a
// portability trap) to the last second GeneralizedTime can hold.
constexpr int64_t kMinEpochSeconds = 0;
constexpr int64_t kMaxEpochSeconds = 253402300799;  // 9999-12-31T23:59:59Z

Refusal sslFailure(std::string field, std::string_view what) {
  return {RefusalCode::Unavailable, std::move(field), std::string(what) + ": " + drainErrors()};
}

// Overwrites the whole buffer, including bytes past size() that an earlier,
// longer value or a move left behind, then empties the string.
void wipe(std::string& s) {
  s.resize(s.capacity());
  OPENSSL_cleanse(s.data(), s.size());
  s.clear();
}

// Never prompt on a terminal for a passphrase: an encrypted key is refused.
int noPassphrase(char*, int, int, void*) { return -1; }

bool isPrintableAscii(std::string_view s) {
  for (char c : s) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

bool representable(SysTime t) {
  int64_t s = t.time_since_epoch().count();
  return s >= kMinEpochSeconds && s <= kMaxEpochSeconds;
}

std::string memBioText(BIO* bio) {
  BUF_MEM* mem = nullptr;
  BIO_get_mem_ptr(bio, &mem);
  if (mem == nullptr) return {};
  return std::string(mem->data, mem->length);
}

std::string certToPem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) return {};
  return memBioText(bio.get());
}

// PKCS#8 through a secure-heap BIO where one is configured; BUF_MEM clears
// its buffers when it frees or grows them, so the only plain copy left is
// the string we return.
std::string keyToPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_secmem()));
  if (!bio ||
      PEM_write_bio_PKCS8PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return {};
  }
  return memBioText(bio.get());
}

// A value such as "critical,CA:TRUE" through OpenSSL's own extension
// parser: the strings are ours, never user input.
bool addExtension(X509* cert, X509V3_CTX* ctx, int nid, const char* value) {
  X509ExtensionPtr ext(X509V3_EXT_nconf_nid(nullptr, ctx, nid, value));
  return ext && X509_add_ext(cert, ext.get(), -1) == 1;
}

bool setCommonName(X509_NAME* name, std::string_view cn) {
  return X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
                                    reinterpret_cast<const unsigned char*>(cn.data()),
                                    static_cast<int>(cn.size()), -1, 0) == 1;
}

// The SAN is built from ASN.1 objects rather than a config string, so no
// character in a user or domain can change its structure.
bool addClientSan(X509* cert, const std::string& upn, const std::vector<std::string>& uris) {
  GeneralNamesPtr names(GENERAL_NAMES_new());
  if (!names) return false;

  GeneralNamePtr upnName(GENERAL_NAME_new());
  Asn1ObjectPtr oid(OBJ_txt2obj(std::string(kUpnOid).c_str(), 1));
  Asn1TypePtr value(ASN1_TYPE_new());
  Asn1Utf8StringPtr utf8(ASN1_UTF8STRING_new());
  if (!upnName || !oid || !value || !utf8 ||
      ASN1_STRING_set(utf8.get(), upn.data(), static_cast<int>(upn.size())) != 1) {
    return false;
  }
  ASN1_TYPE_set(value.get(), V_ASN1_UTF8STRING, utf8.release());
  if (GENERAL_NAME_set0_othername(upnName.get(), oid.get(), value.get()) != 1) return false;
  oid.release();
  value.release();
  if (sk_GENERAL_NAME_push(names.get(), upnName.get()) <= 0) return false;
  upnName.release();

  for (const auto& uri : uris) {
    GeneralNamePtr uriName(GENERAL_NAME_new());
    Asn1Ia5StringPtr ia5(ASN1_IA5STRING_new());
    if (!uriName || !ia5 ||
        ASN1_STRING_set(ia5.get(), uri.data(), static_cast<int>(uri.size())) != 1) {
      return false;
    }
    GENERAL_NAME_set0_value(uriName.get(), GEN_URI, ia5.release());
    if (sk_GENERAL_NAME_push(names.get(), uriName.get()) <= 0) return false;
    uriName.release();
  }

  return X509_add1_ext_i2d(cert, NID_subject_alt_name, names.get(), 0, X509V3_ADD_DEFAULT) == 1;
}

// 63 random bits, never zero: unique without a counter to persist.
bool setRandomSerial(X509* cert) {
  uint64_t serial = 0;
  while (serial == 0) {
    unsigned char bytes[8];
    if (RAND_bytes(bytes, sizeof bytes) != 1) return false;
    for (unsigned char b : bytes) serial = (serial << 8) | b;
    serial &= ~(uint64_t{1} << 63);
  }
  return ASN1_INTEGER_set_uint64(X509_get_serialNumber(cert), serial) == 1;
}

}  // namespace

std::string_view toString(X509Check check) {
  switch (check) {
    case X509Check::Ok:
      return "ok";
    case X509Check::Malformed:
      return "malformed";
    case X509Check::UntrustedIssuer:
      return "untrusted_issuer";
    case X509Check::BadSignature:
      return "bad_signature";
    case X509Check::NotYetValid:
      return "not_yet_valid";
    case X509Check::Expired:
      return "expired";
    case X509Check::NotClientAuth:
      return "not_client_auth";
    case X509Check::NoGrantId:
      return "no_grant_id";
    case X509Check::NoTarget:
      return "no_target";
    case X509Check::Revoked:
      return "revoked";
    case X509Check::Unavailable:
      return "unavailable";
  }
  return "unknown";
}

// ---- X509Issued: the key text is wiped wherever a copy of it dies --------

X509Issued::X509Issued(const X509Issued& other)
    : keyPem(other.keyPem), certPem(other.certPem), serial(other.serial) {}

X509Issued::X509Issued(X509Issued&& other) noexcept
    : keyPem(std::move(other.keyPem)), certPem(std::move(other.certPem)), serial(other.serial) {
  wipe(other.keyPem);
}

X509Issued& X509Issued::operator=(const X509Issued& other) {
  if (this != &other) {
    wipe(keyPem);
    keyPem = other.keyPem;
    certPem = other.certPem;
    serial = other.serial;
  }
  return *this;
}

X509Issued& X509Issued::operator=(X509Issued&& other) noexcept {
  if (this != &other) {
    wipe(keyPem);
    keyPem = std::move(other.keyPem);
    certPem = std::move(other.certPem);
    serial = other.serial;
    wipe(other.keyPem);
  }
  return *this;
}

X509Issued::~X509Issued() { wipe(keyPem); }

// ---- X509Authority --------------------------------------------------------

X509Authority::X509Authority(std::unique_ptr<detail::X509AuthorityState> state)
    : state_(std::move(state)) {}
X509Authority::X509Authority(X509Authority&&) noexcept = default;
X509Authority& X509Authority::operator=(X509Authority&&) noexcept = default;
X509Authority::~X509Authority() = default;

namespace {

Result<std::unique_ptr<detail::X509AuthorityState>> makeState(EvpPkeyPtr key, X509Ptr cert) {
  auto notAfter = toSysTime(X509_get0_notAfter(cert.get()));
  if (!notAfter) return invalid("certPem", "unreadable notAfter: " + drainErrors());
  X509StorePtr store(X509_STORE_new());
  if (!store || X509_STORE_add_cert(store.get(), cert.get()) != 1) {
    return sslFailure("", "building the trust store");
  }
  auto state = std::make_unique<detail::X509AuthorityState>();
  state->key = std::move(key);
  state->cert = std::move(cert);
  state->store = std::move(store);
  state->notAfter = *notAfter;
  return state;
}

}  // namespace

Result<X509Authority> X509Authority::create(const std::string& commonName, SysTime now) {
  ERR_clear_error();
  if (commonName.empty() || commonName.size() > 64 || !isPrintableAscii(commonName)) {
    return invalid("commonName", "must be 1..64 printable ASCII characters");
  }
  SysTime notBefore = now - std::chrono::hours(1);
  SysTime notAfter = now + std::chrono::duration_cast<Seconds>(std::chrono::years(10));
  if (!representable(notBefore) || !representable(notAfter)) {
    return invalid("now", "the CA validity would fall outside 1970..9999");
  }

  EvpPkeyPtr key(EVP_EC_gen("P-256"));
  if (!key) return sslFailure("", "generating the CA key");

  X509Ptr cert(X509_new());
  if (!cert) return sslFailure("", "allocating the CA certificate");
  X509* c = cert.get();
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, c, c, nullptr, nullptr, 0);
  if (X509_set_version(c, X509_VERSION_3) != 1 || !setRandomSerial(c) ||
      !setCommonName(X509_get_subject_name(c), commonName) ||
      X509_set_issuer_name(c, X509_get_subject_name(c)) != 1 ||
      ASN1_TIME_set(X509_getm_notBefore(c), toTimeT(notBefore)) == nullptr ||
      ASN1_TIME_set(X509_getm_notAfter(c), toTimeT(notAfter)) == nullptr ||
      X509_set_pubkey(c, key.get()) != 1 ||
      !addExtension(c, &ctx, NID_basic_constraints, "critical,CA:TRUE") ||
      !addExtension(c, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign") ||
      !addExtension(c, &ctx, NID_subject_key_identifier, "hash")) {
    return sslFailure("", "building the CA certificate");
  }
  if (X509_sign(c, key.get(), EVP_sha256()) <= 0) return sslFailure("", "self-signing the CA");

  auto state = makeState(std::move(key), std::move(cert));
  if (!state) return state.refusal();
  return X509Authority(std::move(state).value());
}

Result<X509Authority> X509Authority::fromPem(const std::string& keyPem,
                                             const std::string& certPem) {
  ERR_clear_error();
  if (keyPem.size() > kMaxX509PemBytes) return invalid("keyPem", "larger than 64 KiB");
  if (certPem.size() > kMaxX509PemBytes) return invalid("certPem", "larger than 64 KiB");

  BioPtr keyBio(BIO_new_mem_buf(keyPem.data(), static_cast<int>(keyPem.size())));
  if (!keyBio) return sslFailure("keyPem", "allocating a BIO");
  EvpPkeyPtr key(PEM_read_bio_PrivateKey(keyBio.get(), nullptr, noPassphrase, nullptr));
  if (!key) {
    return invalid("keyPem", "not an unencrypted PEM private key: " + drainErrors());
  }
  // Both sign with SHA-256; Ed25519 would need a digest-less signing path.
  if (!EVP_PKEY_is_a(key.get(), "EC") && !EVP_PKEY_is_a(key.get(), "RSA")) {
    return invalid("keyPem", "only EC and RSA CA keys are supported");
  }

  BioPtr certBio(BIO_new_mem_buf(certPem.data(), static_cast<int>(certPem.size())));
  if (!certBio) return sslFailure("certPem", "allocating a BIO");
  X509Ptr cert(PEM_read_bio_X509(certBio.get(), nullptr, noPassphrase, nullptr));
  if (!cert) return invalid("certPem", "not a PEM certificate: " + drainErrors());

  // X509_check_ca returns 1 only for basicConstraints CA:TRUE; its other
  // positive answers (v1 self-signed, keyUsage alone, Netscape types) are
  // legacy forms we do not issue from.
  if (X509_check_ca(cert.get()) != 1 || (X509_get_key_usage(cert.get()) & KU_KEY_CERT_SIGN) == 0) {
    return invalid("certPem",
                   "not a CA certificate (needs basicConstraints CA:TRUE and keyCertSign)");
  }
  EVP_PKEY* certKey = X509_get0_pubkey(cert.get());
  if (certKey == nullptr) return invalid("certPem", "unreadable public key: " + drainErrors());
  if (EVP_PKEY_eq(certKey, key.get()) != 1) {
    ERR_clear_error();
    return invalid("keyPem", "the key does not match the CA certificate");
  }

  auto state = makeState(std::move(key), std::move(cert));
  if (!state) return state.refusal();
  return X509Authority(std::move(state).value());
}

std::string X509Authority::keyPem() const { return keyToPem(state_->key.get()); }

std::string X509Authority::certPem() const { return certToPem(state_->cert.get()); }

Result<X509Issued> X509Authority::issueClient(const X509ClientSpec& spec) const {
  ERR_clear_error();
  if (!isToken(spec.user)) return invalid("user", "must be 1..64 of [A-Za-z0-9._-]");
  const std::string domain =
      spec.upnDomain.empty() ? std::string(kDefaultUpnDomain) : spec.upnDomain;
  if (!isDomain(domain)) {
    return invalid("upnDomain", "must be a DNS name: labels of [A-Za-z0-9-], up to 253 bytes");
  }
  if (!isToken(spec.grantId)) return invalid("grantId", "must be 1..64 of [A-Za-z0-9._-]");
  if (!isToken(spec.target)) return invalid("target", "must be 1..64 of [A-Za-z0-9._-]");
  // Below 2^63 so that the DER INTEGER is at most 8 bytes and never looks
  // negative to a reader that parses it as signed.
  if (spec.serial == 0 || spec.serial >= (uint64_t{1} << 63)) {
    return invalid("serial", "must be in 1..2^63-1");
  }
  if (!representable(spec.notBefore) || !representable(spec.notAfter)) {
    return invalid("notBefore", "validity must fall within 1970..9999");
  }
  if (spec.notAfter <= spec.notBefore) return invalid("notAfter", "must be after notBefore");
  // Fail now rather than hand out a certificate that stops verifying when
  // the CA does.
  if (spec.notAfter > state_->notAfter) {
    return invalid("notAfter",
                   "outlives the CA certificate (" + formatTimestamp(state_->notAfter) + ")");
  }

  EvpPkeyPtr key(EVP_EC_gen("P-256"));
  if (!key) return sslFailure("", "generating the client key");

  X509Ptr cert(X509_new());
  if (!cert) return sslFailure("", "allocating the client certificate");
  X509* c = cert.get();
  X509* ca = state_->cert.get();
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, ca, c, nullptr, nullptr, 0);
  if (X509_set_version(c, X509_VERSION_3) != 1 ||
      ASN1_INTEGER_set_uint64(X509_get_serialNumber(c), spec.serial) != 1 ||
      !setCommonName(X509_get_subject_name(c), spec.user) ||
      X509_set_issuer_name(c, X509_get_subject_name(ca)) != 1 ||
      ASN1_TIME_set(X509_getm_notBefore(c), toTimeT(spec.notBefore)) == nullptr ||
      ASN1_TIME_set(X509_getm_notAfter(c), toTimeT(spec.notAfter)) == nullptr ||
      X509_set_pubkey(c, key.get()) != 1 ||
      !addExtension(c, &ctx, NID_basic_constraints, "CA:FALSE") ||
      !addExtension(c, &ctx, NID_key_usage, "critical,digitalSignature") ||
      !addExtension(c, &ctx, NID_ext_key_usage, "clientAuth") ||
      !addExtension(c, &ctx, NID_subject_key_identifier, "hash") ||
      // The key id lets a verifier tell two CAs with the same name apart.
      !addExtension(c, &ctx, NID_authority_key_identifier, "keyid:always") ||
      !addClientSan(c, spec.user + "@" + domain,
                    {std::string(kGrantUriPrefix) + spec.grantId,
                     std::string(kTargetUriPrefix) + spec.target})) {
    return sslFailure("", "building the client certificate");
  }
  if (X509_sign(c, state_->key.get(), EVP_sha256()) <= 0) {
    return sslFailure("", "signing the client certificate");
  }

  X509Issued issued;
  issued.keyPem = keyToPem(key.get());
  issued.certPem = certToPem(c);
  issued.serial = spec.serial;
  if (issued.keyPem.empty() || issued.certPem.empty()) {
    return sslFailure("", "writing the client key and certificate as PEM");
  }
  return issued;
}

}  // namespace jitgate
