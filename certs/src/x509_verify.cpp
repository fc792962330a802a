// Checking a client certificate against the X.509 CA: framing, chain to our
// CA alone, purpose, validity, revocation and the jitgate fields, in the
// order a refusal is reported.
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "x509_common.hpp"

namespace jitgate {

using namespace x509;

namespace {

struct Verdict {
  X509Check code;
  std::string message;  // "<toString(code)>: detail"; empty on Ok
};

Verdict refuse(X509Check code, std::string_view detail) {
  return {code, std::string(toString(code)) + ": " + std::string(detail)};
}

// What X509_verify_cert's first error means for a client. Anything not
// listed still refuses, as an issuer we do not trust.
X509Check classifyVerifyError(int err) {
  switch (err) {
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return X509Check::NotYetValid;
    case X509_V_ERR_CERT_HAS_EXPIRED:
      return X509Check::Expired;
    case X509_V_ERR_INVALID_PURPOSE:
      return X509Check::NotClientAuth;
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
      return X509Check::BadSignature;
    case X509_V_ERR_ERROR_IN_CERT_NOT_BEFORE_FIELD:
    case X509_V_ERR_ERROR_IN_CERT_NOT_AFTER_FIELD:
    case X509_V_ERR_UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY:
    case X509_V_ERR_INVALID_EXTENSION:
    case X509_V_ERR_INVALID_NON_CA:
      return X509Check::Malformed;
    case X509_V_ERR_OUT_OF_MEM:
      return X509Check::Unavailable;
    default:
      return X509Check::UntrustedIssuer;
  }
}

std::optional<std::string> asn1Utf8(const ASN1_STRING* s) {
  unsigned char* raw = nullptr;
  int n = ASN1_STRING_to_UTF8(&raw, s);
  if (n < 0) return std::nullopt;
  OpensslBytesPtr owned(raw);
  return std::string(reinterpret_cast<const char*>(raw), static_cast<size_t>(n));
}

std::string_view asn1View(const ASN1_STRING* s) {
  return {reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
          static_cast<size_t>(ASN1_STRING_length(s))};
}

// The checks in the order a refusal is reported: a certificate that does
// not chain to us is refused as such whatever else it claims, and nothing
// it says is believed before its signature is.
Verdict checkClient(const detail::X509AuthorityState& ca, std::string_view pem, SysTime now,
                    const std::set<uint64_t>& revoked, X509Verified& out) {
  // ---- framing: one PEM certificate and nothing else ----
  if (pem.size() > kMaxX509PemBytes) {
    return refuse(X509Check::Malformed, "certificate PEM is " + std::to_string(pem.size()) +
                                            " bytes, more than " +
                                            std::to_string(kMaxX509PemBytes));
  }
  constexpr std::string_view kWhitespace = " \t\r\n";
  constexpr std::string_view kBegin = "-----BEGIN CERTIFICATE-----";
  size_t first = pem.find_first_not_of(kWhitespace);
  if (first == std::string_view::npos || pem.substr(first, kBegin.size()) != kBegin) {
    return refuse(X509Check::Malformed, "not a PEM certificate");
  }
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return refuse(X509Check::Unavailable, "allocating a BIO: " + drainErrors());
  // PEM_read_bio_X509 would ignore bytes after the DER structure; reading
  // the block ourselves lets us insist the DER is exactly one certificate.
  char* rawName = nullptr;
  char* rawHeader = nullptr;
  unsigned char* rawDer = nullptr;
  long derLen = 0;
  int read = PEM_read_bio(bio.get(), &rawName, &rawHeader, &rawDer, &derLen);
  OpensslBytesPtr name(reinterpret_cast<unsigned char*>(rawName));
  OpensslBytesPtr header(reinterpret_cast<unsigned char*>(rawHeader));
  OpensslBytesPtr der(rawDer);
  if (read != 1) return refuse(X509Check::Malformed, "unreadable PEM: " + drainErrors());
  if (std::string_view(rawName) != "CERTIFICATE" || (rawHeader != nullptr && *rawHeader != 0)) {
    return refuse(X509Check::Malformed, "not a plain PEM certificate");
  }
  const unsigned char* p = rawDer;
  X509Ptr cert(d2i_X509(nullptr, &p, derLen));
  if (!cert) return refuse(X509Check::Malformed, "unreadable certificate: " + drainErrors());
  if (p != rawDer + derLen) return refuse(X509Check::Malformed, "data after the DER certificate");
  char* rest = nullptr;
  long restLen = BIO_get_mem_data(bio.get(), &rest);
  if (restLen > 0 &&
      std::string_view(rest, static_cast<size_t>(restLen)).find_first_not_of(kWhitespace) !=
          std::string_view::npos) {
    return refuse(X509Check::Malformed, "data after the certificate");
  }
  X509* c = cert.get();

  // ---- chain, signature, purpose and time, by OpenSSL's verifier ----
  X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (!ctx || X509_STORE_CTX_init(ctx.get(), ca.store.get(), c, nullptr) != 1 ||
      X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_SSL_CLIENT) != 1) {
    return refuse(X509Check::Unavailable, "preparing verification: " + drainErrors());
  }
  X509_STORE_CTX_set_time(ctx.get(), 0, toTimeT(now));  // sets X509_V_FLAG_USE_CHECK_TIME
  // Our CA is the trust anchor even when it is itself an intermediate; the
  // store holds nothing else, so this widens nothing.
  X509_STORE_CTX_set_flags(ctx.get(), X509_V_FLAG_PARTIAL_CHAIN);
  if (X509_verify_cert(ctx.get()) != 1) {
    int err = X509_STORE_CTX_get_error(ctx.get());
    int depth = X509_STORE_CTX_get_error_depth(ctx.get());
    if (err == X509_V_OK) {
      return refuse(X509Check::Unavailable, "X509_verify_cert failed: " + drainErrors());
    }
    X509Check code = classifyVerifyError(err);
    std::string detail = X509_verify_cert_error_string(err);
    if (depth > 0) detail += " (the CA certificate)";
    const ASN1_TIME* bound = nullptr;
    if (code == X509Check::Expired && depth == 0) bound = X509_get0_notAfter(c);
    if (code == X509Check::NotYetValid && depth == 0) bound = X509_get0_notBefore(c);
    if (auto t = bound ? toSysTime(bound) : std::nullopt) {
      detail += (code == X509Check::Expired ? ": notAfter " : ": notBefore ") +
                formatTimestamp(*t) + ", now " + formatTimestamp(now);
    }
    return refuse(code, detail);
  }

  // ---- what the sslclient purpose lets through but we do not ----
  uint32_t flags = X509_get_extension_flags(c);
  if (flags & EXFLAG_INVALID) return refuse(X509Check::Malformed, "invalid extensions");
  // The purpose check accepts a certificate with no EKU at all; ours always
  // name clientAuth, so its absence means someone else's certificate.
  if (!(flags & EXFLAG_XKUSAGE) || !(X509_get_extended_key_usage(c) & XKU_SSL_CLIENT)) {
    return refuse(X509Check::NotClientAuth, "extendedKeyUsage clientAuth is missing");
  }
  if (X509_check_ca(c) != 0) {
    return refuse(X509Check::NotClientAuth, "a CA certificate is not a client certificate");
  }

  // ---- revocation: a revoked certificate is reported as such first ----
  uint64_t serial = 0;
  if (ASN1_INTEGER_get_uint64(&serial, X509_get0_serialNumber(c)) != 1) {
    ERR_clear_error();
    return refuse(X509Check::Malformed, "serial is negative or longer than 64 bits");
  }
  if (revoked.count(serial) != 0) {
    return refuse(X509Check::Revoked, "serial " + std::to_string(serial) + " is revoked");
  }

  // ---- who and which grant ----
  X509_NAME* subject = X509_get_subject_name(c);
  int cnIndex = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (cnIndex < 0 || X509_NAME_get_index_by_NID(subject, NID_commonName, cnIndex) >= 0) {
    return refuse(X509Check::Malformed, "the subject must hold exactly one CN");
  }
  auto user = asn1Utf8(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, cnIndex)));
  if (!user || !isToken(*user)) {
    ERR_clear_error();
    return refuse(X509Check::Malformed, "the subject CN is not a valid user name");
  }

  int critical = 0;
  GeneralNamesPtr names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(c, NID_subject_alt_name, &critical, nullptr)));
  if (!names) {
    ERR_clear_error();
    if (critical == -2) return refuse(X509Check::Malformed, "more than one subjectAltName");
    return refuse(X509Check::NoGrantId, "no subjectAltName");
  }
  Asn1ObjectPtr upnOid(OBJ_txt2obj(std::string(kUpnOid).c_str(), 1));
  if (!upnOid) return refuse(X509Check::Unavailable, "OBJ_txt2obj: " + drainErrors());
  std::optional<std::string> grantId;
  std::optional<std::string> target;
  std::optional<std::string> upn;
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    if (name->type == GEN_URI) {
      std::string_view uri = asn1View(name->d.uniformResourceIdentifier);
      if (uri.substr(0, kTargetUriPrefix.size()) == kTargetUriPrefix) {
        std::string_view t = uri.substr(kTargetUriPrefix.size());
        if (!isToken(t)) return refuse(X509Check::NoTarget, "the target URI holds no valid name");
        if (target) return refuse(X509Check::NoTarget, "more than one target URI");
        target = std::string(t);
        continue;
      }
      if (uri.substr(0, kGrantUriPrefix.size()) != kGrantUriPrefix) continue;
      std::string_view id = uri.substr(kGrantUriPrefix.size());
      if (!isToken(id)) return refuse(X509Check::NoGrantId, "the grant URI holds no valid id");
      if (grantId) return refuse(X509Check::NoGrantId, "more than one grant URI");
      grantId = std::string(id);
    } else if (name->type == GEN_OTHERNAME &&
               OBJ_cmp(name->d.otherName->type_id, upnOid.get()) == 0) {
      const ASN1_TYPE* value = name->d.otherName->value;
      if (upn || value == nullptr || value->type != V_ASN1_UTF8STRING) {
        return refuse(X509Check::Malformed, "the UPN must be a single UTF8String");
      }
      upn = std::string(asn1View(value->value.utf8string));
    }
  }
  if (!grantId) return refuse(X509Check::NoGrantId, "no " + std::string(kGrantUriPrefix) + " URI");
  // A certificate opens only its grant's target.
  if (!target) return refuse(X509Check::NoTarget, "no " + std::string(kTargetUriPrefix) + " URI");
  // Windows maps the certificate to an account by its UPN and we by its CN:
  // both must name the same user.
  if (!upn || upn->size() <= user->size() + 1 || upn->compare(0, user->size(), *user) != 0 ||
      (*upn)[user->size()] != '@' || !isDomain(std::string_view(*upn).substr(user->size() + 1))) {
    return refuse(X509Check::Malformed, "the UPN does not name the subject CN's user");
  }

  auto notBefore = toSysTime(X509_get0_notBefore(c));
  auto notAfter = toSysTime(X509_get0_notAfter(c));
  if (!notBefore || !notAfter) {
    ERR_clear_error();
    return refuse(X509Check::Malformed, "unreadable validity");
  }

  out.user = std::move(*user);
  out.grantId = std::move(*grantId);
  out.target = std::move(*target);
  out.serial = serial;
  out.notBefore = *notBefore;
  out.notAfter = *notAfter;
  return {X509Check::Ok, {}};
}

}  // namespace

X509Check X509Authority::check(std::string_view certPem, SysTime now,
                               const std::set<uint64_t>& revoked, X509Verified* out,
                               std::string* why) const {
  ERR_clear_error();
  X509Verified verified;
  Verdict v = checkClient(*state_, certPem, now, revoked, verified);
  ERR_clear_error();
  if (out != nullptr && v.code == X509Check::Ok) *out = std::move(verified);
  if (why != nullptr) *why = std::move(v.message);
  return v.code;
}

Result<X509Verified> X509Authority::verify(std::string_view certPem, SysTime now,
                                           const std::set<uint64_t>& revoked) const {
  X509Verified verified;
  std::string why;
  X509Check code = check(certPem, now, revoked, &verified, &why);
  switch (code) {
    case X509Check::Ok:
      return verified;
    case X509Check::Malformed:
      return Refusal{RefusalCode::InvalidArgument, std::string(kCertificateField), why};
    case X509Check::Unavailable:
      return Refusal{RefusalCode::Unavailable, std::string(kCertificateField), why};
    default:
      return Refusal{RefusalCode::PolicyViolation, std::string(kCertificateField), why};
  }
}

}  // namespace jitgate
