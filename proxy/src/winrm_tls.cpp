// The WinRM front's TLS material and contexts (winrm_tls.hpp).
#include "winrm_tls.hpp"

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/ip/address.hpp>
#include <cerrno>
#include <cstring>

#include "jitgate/files.hpp"
#include "jitgate/handle.hpp"
#include "jitgate/model.hpp"

namespace jitgate {

namespace asio = boost::asio;
namespace ssl = asio::ssl;

std::string opensslError() {
  unsigned long e = ERR_get_error();
  if (!e) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

Refusal tlsError(const std::string& what) {
  return Refusal{RefusalCode::Unavailable, "winrm", what};
}

std::string bioString(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  return len > 0 ? std::string(data, static_cast<size_t>(len)) : std::string();
}

bool isIpLiteral(const std::string& s) {
  boost::system::error_code ec;
  asio::ip::make_address(s, ec);
  return !ec;
}

namespace {

// The self-made certificate's lifetime: under the 398 days browsers and the
// CA/Browser Forum allow a public TLS certificate (testssl.sh warns over 825),
// and renewed at start when fewer than kRenewBefore remain (docs/WINRM.md).
constexpr long kSelfMadeDays = 397;
constexpr long kRenewBeforeDays = 30;
constexpr const char* kSelfMadeName = "jitgated WinRM front";

// TLS 1.2: ECDHE with AEAD only (no CBC: LUCKY13; no RSA key exchange; no
// DHE), ECDSA and RSA certificates both served. TLS 1.3: OpenSSL's three.
// The server's order decides: AES-GCM first (AES-NI), then ChaCha20.
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
constexpr const char* kTls13Ciphers =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";

bool addExtension(X509* cert, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  X509ExtensionPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
  return ext && X509_add_ext(cert, ext.get(), -1) == 1;
}

Result<std::pair<std::string, std::string>> makeSelfSigned(const std::string& domain) {
  EvpPkeyPtr key(EVP_EC_gen("P-256"));
  if (!key) return tlsError("generating the HTTPS front's key: " + opensslError());
  X509Ptr cert(X509_new());
  if (!cert) return tlsError("X509_new: " + opensslError());
  // 63 random bits with the top one set: positive and 8 bytes in DER.
  BignumPtr serial(BN_new());
  bool ok = serial && BN_rand(serial.get(), 63, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY) == 1 &&
            X509_set_version(cert.get(), 2) == 1 &&
            BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())) &&
            X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600) &&
            X509_gmtime_adj(X509_getm_notAfter(cert.get()), kSelfMadeDays * 86400);
  X509_NAME* name = X509_get_subject_name(cert.get());
  ok = ok &&
       X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                  reinterpret_cast<const unsigned char*>(kSelfMadeName), -1, -1,
                                  0) == 1 &&
       X509_set_issuer_name(cert.get(), name) == 1 && X509_set_pubkey(cert.get(), key.get()) == 1;
  std::string san = "DNS:localhost,IP:127.0.0.1,IP:::1";
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) == 0 && validateAddress(host, "host") &&
      std::string(host) != "localhost")
    san += std::string(",DNS:") + host;
  if (!domain.empty()) san += ",DNS:*." + domain;
  ok = ok && addExtension(cert.get(), NID_basic_constraints, "critical,CA:FALSE") &&
       addExtension(cert.get(), NID_key_usage, "critical,digitalSignature") &&
       addExtension(cert.get(), NID_ext_key_usage, "serverAuth") &&
       addExtension(cert.get(), NID_subject_alt_name, san) &&
       addExtension(cert.get(), NID_subject_key_identifier, "hash") &&
       X509_sign(cert.get(), key.get(), EVP_sha256()) > 0;
  if (!ok) return tlsError("making the HTTPS front's certificate: " + opensslError());
  BioPtr keyBio(BIO_new(BIO_s_mem())), certBio(BIO_new(BIO_s_mem()));
  if (!keyBio || !certBio ||
      PEM_write_bio_PrivateKey(keyBio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) !=
          1 ||
      PEM_write_bio_X509(certBio.get(), cert.get()) != 1)
    return tlsError("writing the HTTPS front's certificate: " + opensslError());
  return std::pair{bioString(keyBio.get()), bioString(certBio.get())};
}

bool selfMade(X509* cert) {
  char cn[64] = {};
  X509_NAME* subject = X509_get_subject_name(cert);
  return X509_NAME_cmp(subject, X509_get_issuer_name(cert)) == 0 &&
         X509_NAME_get_text_by_NID(subject, NID_commonName, cn, sizeof cn) > 0 &&
         std::string(cn) == kSelfMadeName;
}

// Why the certificate in the state directory must be made again, or "" while
// it serves: fewer than kRenewBeforeDays left, or made for longer than
// kSelfMadeDays (earlier jitgated builds made them for 825 days). One put
// there by an admin (not self-made by jitgated) is left alone, with a warning.
std::string renewalReason(const std::string& certFile) {
  BioPtr bio(BIO_new_file(certFile.c_str(), "r"));
  X509Ptr cert(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  ERR_clear_error();
  if (!cert) return "";  // the TLS context's load names the problem
  int days = 0, secs = 0;
  if (!selfMade(cert.get())) {
    if (ASN1_TIME_diff(&days, &secs, nullptr, X509_get0_notAfter(cert.get())) == 1 &&
        days < kRenewBeforeDays)
      spdlog::warn(
          "winrm-https: {} ends in {} days; it is not jitgated's own, so it is not renewed",
          certFile, days);
    return "";
  }
  if (ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(cert.get()),
                     X509_get0_notAfter(cert.get())) != 1)
    return "its validity cannot be read";
  if (days > kSelfMadeDays + 1)
    return "it is valid for " + std::to_string(days) + " days (now at most " +
           std::to_string(kSelfMadeDays) + ")";
  if (ASN1_TIME_diff(&days, &secs, nullptr, X509_get0_notAfter(cert.get())) != 1)
    return "its end cannot be read";
  if (days < kRenewBeforeDays)
    return days < 0 || secs < 0 ? "it has expired" : "it ends in " + std::to_string(days) + " days";
  return "";
}

}  // namespace

Result<WinrmTlsFiles> ensureWinrmServerCertificate(const WinrmFrontConfig& config,
                                                   const std::string& stateDir) {
  if (!config.tlsCert.empty()) return WinrmTlsFiles{config.tlsCert, config.tlsKey};
  std::string dir = stateDir + "/winrm";
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    return tlsError(dir + ": " + std::strerror(errno));
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) ||
      (st.st_uid != ::geteuid() && st.st_uid != 0) || (st.st_mode & 0077))
    return tlsError(dir + " must be a directory of ours with mode 0700");
  WinrmTlsFiles files{dir + "/tls.crt", dir + "/tls.key"};
  struct stat ks {
  }, cs{};
  bool haveKey = ::lstat(files.keyFile.c_str(), &ks) == 0;
  bool haveCert = ::lstat(files.certFile.c_str(), &cs) == 0;
  std::string renewing;
  if (haveKey && haveCert) {
    if (!S_ISREG(ks.st_mode) || (ks.st_mode & 0077))
      return tlsError(files.keyFile + " must be a regular file with mode 0600");
    renewing = renewalReason(files.certFile);
    if (renewing.empty()) return files;
  }
  auto made = makeSelfSigned(config.domain);
  if (!made) return made.refusal();
  auto& [keyPem, certPem] = *made;
  auto st1 = writeFileAtomically(files.keyFile, keyPem, 0600);
  OPENSSL_cleanse(keyPem.data(), keyPem.size());
  if (!st1) return st1.refusal();
  if (auto st2 = writeFileAtomically(files.certFile, certPem, 0644); !st2) return st2.refusal();
  if (renewing.empty())
    spdlog::info(
        "winrm-https: made a self-signed certificate {} for {} days (clients trust it, or set "
        "[winrm] tls_cert and tls_key)",
        files.certFile, kSelfMadeDays);
  else
    spdlog::warn(
        "winrm-https: renewed the self-signed certificate {} ({}): clients that trust the "
        "file itself must be given the new one",
        files.certFile, renewing);
  return files;
}

Status configureServerTls(ssl::context& server, const WinrmTlsFiles& files,
                          const std::string& clientCaPem) {
  boost::system::error_code ec;
  server.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                     ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                     ssl::context::no_compression);
  SSL_CTX* sctx = server.native_handle();
  SSL_CTX_set_options(sctx, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION);
  if (SSL_CTX_set_cipher_list(sctx, kTls12Ciphers) != 1 ||
      SSL_CTX_set_ciphersuites(sctx, kTls13Ciphers) != 1)
    return tlsError("setting the HTTPS front's cipher suites: " + opensslError());
  server.use_certificate_chain_file(files.certFile, ec);
  if (ec) return tlsError("winrm tls_cert " + files.certFile + ": " + ec.message());
  server.use_private_key_file(files.keyFile, ssl::context::pem, ec);
  if (ec) return tlsError("winrm tls_key " + files.keyFile + ": " + ec.message());
  // Ask for a client certificate, decide after the handshake (a refusal is
  // an HTTP answer with its reason, not a TLS alert).
  SSL_CTX_set_verify(sctx, SSL_VERIFY_PEER, [](int, X509_STORE_CTX*) { return 1; });
  static const unsigned char kContext[] = "jitgate-winrm";
  SSL_CTX_set_session_id_context(sctx, kContext, sizeof kContext - 1);
  BioPtr bio(BIO_new_mem_buf(clientCaPem.data(), static_cast<int>(clientCaPem.size())));
  X509Ptr ca(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!ca || SSL_CTX_add_client_CA(sctx, ca.get()) != 1)
    return tlsError("naming jitgate's client CA: " + opensslError());
  return okStatus();
}

Status configureUpstreamTls(ssl::context& up, const std::string& caFile) {
  boost::system::error_code ec;
  up.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                 ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  if (!caFile.empty())
    up.load_verify_file(caFile, ec);
  else
    up.set_default_verify_paths(ec);
  if (ec) return tlsError("winrm upstream_ca_file " + caFile + ": " + ec.message());
  up.set_verify_mode(ssl::verify_peer);
  return okStatus();
}

}  // namespace jitgate
