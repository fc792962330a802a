// The WinRM front (see winrm_front.hpp and docs/WINRM.md). One Connection
// object per client connection, alive through shared_from_this as in Beast's
// advanced server; it owns the pinned upstream connection. Every read,
// write, connect and handshake has a deadline; headers and bodies have
// limits; everything runs on the daemon's one io_context.
#include "jitgate/proxy/winrm_front.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <unordered_map>

#include "grant_binding.hpp"
#include "jitgate/audit_throttle.hpp"
#include "jitgate/files.hpp"
#include "jitgate/handle.hpp"
#include "jitgate/model.hpp"
#include "jitgate/net.hpp"
#include "jitgate/proxy/http_rules.hpp"
#include "jitgate/proxy/winrm_identity.hpp"
#include "jitgate/text.hpp"
#include "winrm_fault.hpp"

namespace jitgate {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

namespace {

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
  BignumPtr serial(BN_new());
  bool ok = serial && BN_rand(serial.get(), 63, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) == 1 &&
            X509_set_version(cert.get(), 2) == 1 &&
            BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())) &&
            X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600) &&
            X509_gmtime_adj(X509_getm_notAfter(cert.get()), 825L * 86400);
  X509_NAME* name = X509_get_subject_name(cert.get());
  ok = ok &&
       X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                  reinterpret_cast<const unsigned char*>("jitgated WinRM front"),
                                  -1, -1, 0) == 1 &&
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

bool isIpLiteral(const std::string& s) {
  boost::system::error_code ec;
  asio::ip::make_address(s, ec);
  return !ec;
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
  if (haveKey && haveCert) {
    if (!S_ISREG(ks.st_mode) || (ks.st_mode & 0077))
      return tlsError(files.keyFile + " must be a regular file with mode 0600");
    return files;
  }
  auto made = makeSelfSigned(config.domain);
  if (!made) return made.refusal();
  auto& [keyPem, certPem] = *made;
  auto st1 = writeFileAtomically(files.keyFile, keyPem, 0600);
  OPENSSL_cleanse(keyPem.data(), keyPem.size());
  if (!st1) return st1.refusal();
  if (auto st2 = writeFileAtomically(files.certFile, certPem, 0644); !st2) return st2.refusal();
  spdlog::info(
      "winrm-https: made a self-signed certificate {} (clients trust it, or set "
      "[winrm] tls_cert and tls_key)",
      files.certFile);
  return files;
}

// ---------------------------------------------------------------------------

class ConnectionBase {
 public:
  virtual ~ConnectionBase() = default;
  virtual void shutdown() = 0;
};

struct WinrmFront::Shared {
  Shared(asio::io_context& io, GrantEngine& engine, SessionRegistry& registry,
         CertificateAuthority& authority, WinrmFrontConfig config, WinrmScheme scheme)
      : io(io),
        engine(engine),
        registry(registry),
        authority(authority),
        config(std::move(config)),
        scheme(scheme),
        name(scheme == WinrmScheme::Https ? "winrm-https" : "winrm-http"),
        acceptor(io) {}

  asio::io_context& io;
  GrantEngine& engine;
  SessionRegistry& registry;
  CertificateAuthority& authority;
  WinrmFrontConfig config;
  WinrmScheme scheme;
  std::string name;
  tcp::acceptor acceptor;
  std::optional<ssl::context> serverTls;
  std::optional<ssl::context> upstreamTls;
  std::unordered_map<uint64_t, std::weak_ptr<ConnectionBase>> live;
  std::unordered_map<std::string, int> bySource;  // open connections per client address
  uint64_t nextId = 1;
  // Refusals before a user is known can be provoked by anyone at any rate.
  ThrottledAudit preAuth{io, "pre-authentication refusals", 20,
                         [this](AuditEntry e) { audit(std::move(e)); }};

  void audit(AuditEntry e) {
    if (auto st = engine.record(std::move(e)); !st)
      spdlog::error("{}: audit record failed: {}", name, st.refusal().describe());
  }
};

// One client address's share of the front, held by its connection.
class SourceSlot {
 public:
  SourceSlot(std::shared_ptr<WinrmFront::Shared> front, std::string source)
      : front_(std::move(front)), source_(std::move(source)) {
    ++front_->bySource[source_];
  }
  ~SourceSlot() {
    if (auto it = front_->bySource.find(source_); it != front_->bySource.end() && --it->second <= 0)
      front_->bySource.erase(it);
  }
  SourceSlot(const SourceSlot&) = delete;
  SourceSlot& operator=(const SourceSlot&) = delete;

 private:
  std::shared_ptr<WinrmFront::Shared> front_;
  std::string source_;
};

namespace {

constexpr size_t kReadBufferBytes = 64 * 1024;    // upstream reads
constexpr size_t kClientBufferBytes = 16 * 1024;  // client reads (requests are small)

template <bool Tls>
class Connection : public ConnectionBase, public std::enable_shared_from_this<Connection<Tls>> {
  using Stream = std::conditional_t<Tls, beast::ssl_stream<beast::tcp_stream>, beast::tcp_stream>;

 public:
  Connection(std::shared_ptr<WinrmFront::Shared> front, uint64_t id, tcp::socket socket,
             IpAddress source)
      : front_(std::move(front)),
        cfg_(front_->config),
        id_(id),
        client_(makeClient(std::move(socket))),
        resolver_(front_->io),
        deadline_(front_->io),
        source_(source),
        sourceText_(source.toString()),
        slot_(front_, sourceText_),
        binding_(front_->io, front_->engine, front_->registry) {}

  void run() {
    if constexpr (Tls) {
      beast::get_lowest_layer(client_).expires_after(cfg_.connectTimeout);
      client_.async_handshake(
          ssl::stream_base::server,
          [self = this->shared_from_this()](beast::error_code ec) { self->onHandshake(ec); });
    } else {
      readHead();
    }
  }

  ~Connection() override {
    // Every path ends in finish(); should one not, the slot is not leaked.
    if (!closed_) front_->live.erase(id_);
  }

  void shutdown() override { finish(EndReason::Shutdown, ""); }

 private:
  Stream makeClient(tcp::socket socket) {
    if constexpr (Tls)
      return Stream(std::move(socket), *front_->serverTls);
    else
      return Stream(std::move(socket));
  }
  Stream makeUpstream() {
    if constexpr (Tls)
      return Stream(front_->io, *front_->upstreamTls);
    else
      return Stream(front_->io);
  }
  static beast::tcp_stream& lowest(Stream& s) { return beast::get_lowest_layer(s); }

  // --- TLS: who the certificate says the client is
  void onHandshake(beast::error_code ec) {
    if (closed_) return;
    if (ec) {
      spdlog::debug("{}: TLS handshake from {}: {}", front_->name, sourceText_, ec.message());
      return finish(EndReason::ClientClosed, "tls handshake failed");
    }
    if constexpr (Tls) {
      X509* peer = SSL_get0_peer_certificate(client_.native_handle());
      if (peer) {
        BioPtr bio(BIO_new(BIO_s_mem()));
        if (!bio || PEM_write_bio_X509(bio.get(), peer) != 1) {
          certRefusal_ = "unavailable: cannot read the certificate";
        } else {
          auto revoked = front_->authority.revokedX509Serials();
          if (!revoked) {
            certRefusal_ = "unavailable: revocations cannot be read";
          } else {
            X509Verified v;
            std::string why;
            auto check = front_->authority.x509().check(bioString(bio.get()), front_->engine.now(),
                                                        *revoked, &v, &why);
            if (check == X509Check::Ok) {
              certUser_ = v.user;
              certTarget_ = v.target;
            } else
              certRefusal_ = why.empty() ? std::string(toString(check)) : why;
          }
        }
      }
    }
    readHead();
  }

  // --- Reading a request header: Beast parses, http_rules checks the bytes
  void readHead() {
    if (closed_) return;
    if (clientBuf_.capacity() < kClientBufferBytes) clientBuf_.reserve(kClientBufferBytes);
    parser_.emplace();
    headBytes_.clear();
    // Beast adds a chunked body's trailer fields to the request's header set,
    // possibly while the head is still being fed: counting the fields when
    // the last chunk's header is parsed (before any trailer) tells them apart.
    fieldsAtLastChunk_.reset();
    chunkHeaderCb_ = [this](std::uint64_t size, beast::string_view, beast::error_code&) {
      if (size == 0)
        fieldsAtLastChunk_ =
            static_cast<size_t>(std::distance(parser_->get().begin(), parser_->get().end()));
    };
    parser_->on_chunk_header(chunkHeaderCb_);
    parser_->header_limit(static_cast<uint32_t>(cfg_.maxHeaderBytes));
    parser_->body_limit(static_cast<uint64_t>(cfg_.maxBodyBytes));
    lowest(client_).expires_after(cfg_.requestTimeout);
    feedHead();
  }

  void feedHead() {
    if (closed_) return;
    if (clientBuf_.size() > 0) {
      auto data = clientBuf_.data();
      auto p = feedRequestHead(*parser_,
                               std::string_view(static_cast<const char*>(data.data()), data.size()),
                               headBytes_, static_cast<size_t>(cfg_.maxHeaderBytes),
                               static_cast<size_t>(cfg_.maxBodyBytes));
      clientBuf_.consume(p.consumed);
      if (p.state == HeadState::Refused)
        return refuse(p.refusal.status, SessionRefusal::Http, p.refusal.reason);
      if (p.state == HeadState::Done) return onHead();
      if (clientBuf_.size() > static_cast<size_t>(cfg_.maxHeaderBytes))
        return refuse(431, SessionRefusal::Http,
                      refusalFor(http::error::header_limit, cfg_.maxHeaderBytes, 0).reason);
    }
    client_.async_read_some(clientBuf_.prepare(16 * 1024),
                            [self = this->shared_from_this()](beast::error_code ec, size_t n) {
                              if (self->closed_) return;
                              if (ec) return self->clientGone(ec);
                              self->clientBuf_.commit(n);
                              self->feedHead();
                            });
  }

  void clientGone(beast::error_code ec) {
    if (ec == beast::error::timeout) return finish(EndReason::ClientClosed, "idle timeout");
    if (ec == asio::error::eof || ec == ssl::error::stream_truncated ||
        ec == asio::error::connection_reset || ec == asio::error::operation_aborted)
      return finish(EndReason::ClientClosed, "");
    finish(EndReason::Error, "client: " + ec.message());
  }

  // --- The whole header is here: parse everything, then decide
  void onHead() {
    auto& req = parser_->get();
    clientKeepAlive_ = req.keep_alive();

    auto route = routeRequest(req.target(), req[http::field::host], cfg_.domain);
    auto auth = req.find(http::field::authorization);
    Result<ClientCredential> cred = auth == req.end() ? Result<ClientCredential>(ClientCredential{})
                                                      : parseAuthorization(auth->value());
    std::optional<Target> target;
    if (route) target = front_->engine.findTarget(route->target);

    if (req.method() != http::verb::post)
      return refuse(405, SessionRefusal::Http, "only POST is relayed (WS-Man)");
    if (!route) return refuse(400, SessionRefusal::Routing, route.refusal().message);
    if (!target)
      return refuse(403, SessionRefusal::UnknownTarget,
                    "no target named '" + printable(route->target, 64) + "'");
    if (target_ && target_->name != target->name)
      return refuse(400, SessionRefusal::Routing,
                    "one connection serves one target (" + target_->name + ")");
    if (!target_) {
      target_ = *target;
      port_ = Tls ? target_->winrmHttpsPort : target_->winrmHttpPort;
    }
    upstreamPath_ = route->upstreamPath;
    if (!cred) return refuse(401, SessionRefusal::Identity, cred.refusal().message);
    userForRefusal_ = !certUser_.empty() ? certUser_ : cred->user;  // who the audit names
    if (auto st = acceptAccountDomain(*cred, cfg_.accountDomains); !st)
      return refuse(403, SessionRefusal::AccountDomain, st.refusal().message);
    if (!certRefusal_.empty())
      return refuse(403, SessionRefusal::Certificate,
                    "client certificate refused: " + certRefusal_);
    // A certificate opens only its grant's target.
    if (!certUser_.empty() && certTarget_ != target_->name)
      return refuse(403, SessionRefusal::Certificate,
                    "client certificate refused: wrong_target: it is for target '" + certTarget_ +
                        "', not '" + target_->name + "'");

    std::string user = cred->user;
    if (!certUser_.empty()) {
      if (!user.empty() && user != certUser_)
        return refuse(
            403, SessionRefusal::Identity,
            "the credentials name " + user + " but the client certificate names " + certUser_);
      user = certUser_;
    }
    if (!user_.empty() && !user.empty() && user != user_)
      return refuse(403, SessionRefusal::Identity,
                    "this connection belongs to " + user_ + "; use a new connection for " + user);
    if (user.empty()) user = user_;

    handshakeLeg_ = false;
    challenge_ = false;
    if (user.empty()) {
      if (cred->scheme == AuthScheme::NtlmNegotiate) {
        // NTLM names its user only in the third message; the NEGOTIATE leg
        // goes to the target (without the request body) only when some
        // grant covers this target, port and source at all.
        auto d = front_->engine.decideAnyUser(target_->name, port_, source_);
        if (!d.allowed) return refuse(403, d.reason, d.message);
        // One NEGOTIATE leg per connection, then the AUTHENTICATE message
        // that names the user: no unnamed requests beyond the handshake.
        if (++negotiateLegs_ > 1)
          return refuse(401, SessionRefusal::Identity, "one NTLM negotiation per connection");
        // Relayed before anyone is named: audited (rate-limited, as anyone
        // whose address some grant covers can send it).
        AuditEntry leg;
        leg.actor = "-";
        leg.action = "session.ntlm_negotiate";
        leg.outcome = "ok";
        leg.target = target_->name;
        leg.port = port_;
        leg.source = sourceText_;
        leg.grantId = d.grantId;
        leg.detail = "front=" + front_->name +
                     ": NTLM NEGOTIATE relayed before the user is named (a grant covers the "
                     "target, port and source)";
        front_->preAuth.record(std::move(leg));
        handshakeLeg_ = true;
        parser_->body_limit(kUnnamedBodyLimit);
        return readBody();
      }
      if (cred->scheme == AuthScheme::CertificateMutual)
        return refuse(401, SessionRefusal::Identity,
                      Tls ? "certificate authentication needs a jitgate client certificate"
                          : "certificate authentication needs the HTTPS front");
      if (++challenges_ > 3)
        return refuse(401, SessionRefusal::Identity,
                      "no user name: send Basic or NTLM credentials or a jitgate client "
                      "certificate");
      // No grant covers this target, port and source for anyone: say so now,
      // rather than challenge for credentials that cannot pass (an NTLM
      // client would fail on the refused NEGOTIATE leg with no reason shown).
      if (auto any = front_->engine.decideAnyUser(target_->name, port_, source_); !any.allowed)
        return refuse(403, any.reason, any.message);
      challenge_ = true;
      parser_->body_limit(kUnnamedBodyLimit);
      return readBody();
    }
    auto d = front_->engine.decide(user, target_->name, port_, source_);
    if (!d.allowed) {
      userForRefusal_ = user;
      return refuse(403, d.reason, d.message);
    }
    if (!identified_) {
      mintUpstreamCert_ =
          Tls && !certUser_.empty() && !upstream_ &&
          (cred->scheme == AuthScheme::None || cred->scheme == AuthScheme::CertificateMutual);
      establish(user, d);
    } else {
      binding_.moveTo(d);
    }
    readBody();
  }

  void establish(const std::string& user, const Decision& d) {
    user_ = user;
    identified_ = true;
    SessionRecord record;
    record.front = front_->name;
    record.user = user_;
    record.target = target_->name;
    record.port = port_;
    record.source = sourceText_;
    record.grantId = d.grantId;
    // Cut when no grant covers the session any more (revoke, expiry).
    std::weak_ptr<Connection> weak = this->shared_from_this();
    GrantBinding::Events events;
    events.ended = [weak](EndReason why, SysTime at) {
      if (auto self = weak.lock(); self && !self->closed_)
        self->finish(why, endMessage(self->target_->name, at, why));
    };
    binding_.bind(std::move(record), source_, d, std::chrono::seconds(0), std::move(events));
    spdlog::info("{}: {} from {} to {} port {} under {}", front_->name, user_, sourceText_,
                 target_->name, port_, d.grantId);
  }

  // --- The body, whole, within its limit
  void readBody() {
    auto& req = parser_->get();
    if (beast::iequals(req[http::field::expect], "100-continue")) {
      if (challenge_) {
        // Answer at once, and do not wait for a body the client holds back.
        clientKeepAlive_ = false;
        return writeChallenge();
      }
      auto cont = std::make_shared<http::response<http::empty_body>>(http::status::continue_, 11);
      lowest(client_).expires_after(cfg_.requestTimeout);
      http::async_write(client_, *cont,
                        [self = this->shared_from_this(), cont](beast::error_code ec, size_t) {
                          if (self->closed_) return;
                          if (ec) return self->clientGone(ec);
                          self->readBodyNow();
                        });
      return;
    }
    readBodyNow();
  }

  void readBodyNow() {
    if (parser_->is_done()) return onRequest();
    lowest(client_).expires_after(cfg_.requestTimeout);
    http::async_read(
        client_, clientBuf_, *parser_,
        [self = this->shared_from_this()](beast::error_code ec, size_t) {
          if (self->closed_) return;
          if (ec == beast::error::timeout || ec == asio::error::eof ||
              ec == asio::error::connection_reset || ec == http::error::partial_message)
            return self->clientGone(ec);
          if (ec) {
            auto r = refusalFor(ec, self->cfg_.maxHeaderBytes, self->cfg_.maxBodyBytes);
            return self->refuse(r.status, SessionRefusal::Http, r.reason);
          }
          self->onRequest();
        });
  }

  void onRequest() {
    if (fieldsAtLastChunk_ &&
        static_cast<size_t>(std::distance(parser_->get().begin(), parser_->get().end())) !=
            *fieldsAtLastChunk_)
      return refuse(400, SessionRefusal::Http, "trailer fields are not relayed");
    if (challenge_) return writeChallenge();
    auto req = parser_->release();
    parser_.reset();
    outReq_.emplace(std::move(req));
    outReq_->target(upstreamPath_);
    stripHopByHop(*outReq_);
    outReq_->erase(http::field::expect);
    outReq_->set(http::field::host, hostHeader());
    if (handshakeLeg_) outReq_->body().clear();
    outReq_->keep_alive(true);
    outReq_->prepare_payload();
    if (!upstream_) return connectUpstream();
    writeUpstream();
  }

  std::string hostHeader() const {
    const auto& a = target_->address;
    std::string host = a.find(':') != std::string::npos ? "[" + a + "]" : a;
    return host + ":" + std::to_string(port_);
  }

  // --- The pinned upstream connection
  void connectUpstream() {
    upstream_.emplace(makeUpstream());
    // Beast reads at most the buffer's free capacity (512 B at least): give
    // responses room, or a 1 MiB body takes a thousand reads.
    upstreamBuf_.reserve(kReadBufferBytes);
    deadline_.expires_after(cfg_.connectTimeout);
    deadline_.async_wait([self = this->shared_from_this()](beast::error_code ec) {
      if (!ec) self->resolver_.cancel();
    });
    resolver_.async_resolve(
        target_->address, std::to_string(port_), tcp::resolver::numeric_service,
        [self = this->shared_from_this()](beast::error_code ec, tcp::resolver::results_type rs) {
          self->deadline_.cancel();
          if (self->closed_) return;
          if (ec) return self->upstreamFailed(ec, "cannot resolve");
          lowest(*self->upstream_).expires_after(self->cfg_.connectTimeout);
          lowest(*self->upstream_)
              .async_connect(rs, [self](beast::error_code ec, const tcp::endpoint&) {
                if (self->closed_) return;
                if (ec) return self->upstreamFailed(ec, "cannot connect");
                self->onUpstreamConnected();
              });
        });
  }

  void onUpstreamConnected() {
    if constexpr (Tls) {
      SSL* ssl = upstream_->native_handle();
      const std::string& address = target_->address;
      bool ok;
      if (isIpLiteral(address)) {
        ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), address.c_str()) == 1;
      } else {
        ok = SSL_set_tlsext_host_name(ssl, address.c_str()) == 1 &&
             SSL_set1_host(ssl, address.c_str()) == 1;
      }
      if (!ok) return upstreamFailed({}, "TLS setup: " + opensslError());
      if (mintUpstreamCert_) {
        auto issued = front_->authority.issueX509("jitgated", true, binding_.grantId());
        if (!issued)
          return upstreamFailed({}, "no client certificate: " + issued.refusal().message);
        const auto& m = issued->material;
        BioPtr kb(BIO_new_mem_buf(m.keyPem.data(), static_cast<int>(m.keyPem.size())));
        BioPtr cb(BIO_new_mem_buf(m.certPem.data(), static_cast<int>(m.certPem.size())));
        EvpPkeyPtr key(kb ? PEM_read_bio_PrivateKey(kb.get(), nullptr, nullptr, nullptr) : nullptr);
        X509Ptr cert(cb ? PEM_read_bio_X509(cb.get(), nullptr, nullptr, nullptr) : nullptr);
        if (!key || !cert || SSL_use_certificate(ssl, cert.get()) != 1 ||
            SSL_use_PrivateKey(ssl, key.get()) != 1)
          return upstreamFailed({}, "loading the client certificate: " + opensslError());
        spdlog::info("{}: client certificate serial {} for {} to {} (until the grant ends)",
                     front_->name, m.serial, user_, target_->name);
      }
      lowest(*upstream_).expires_after(cfg_.connectTimeout);
      upstream_->async_handshake(ssl::stream_base::client,
                                 [self = this->shared_from_this()](beast::error_code ec) {
                                   if (self->closed_) return;
                                   if (ec) return self->upstreamFailed(ec, "TLS handshake failed");
                                   self->writeUpstream();
                                 });
    } else {
      writeUpstream();
    }
  }

  void writeUpstream() {
    lowest(*upstream_).expires_after(cfg_.responseTimeout);
    http::async_write(*upstream_, *outReq_,
                      [self = this->shared_from_this()](beast::error_code ec, size_t n) {
                        self->binding_.record().bytesToTarget += n;
                        if (self->closed_) return;
                        if (ec) return self->upstreamFailed(ec, "sending failed");
                        self->outReq_.reset();
                        self->readUpstream();
                      });
  }

  void readUpstream() {
    resParser_.emplace();
    resParser_->header_limit(static_cast<uint32_t>(cfg_.maxHeaderBytes));
    resParser_->body_limit(static_cast<uint64_t>(cfg_.maxBodyBytes));
    lowest(*upstream_).expires_after(cfg_.responseTimeout);
    http::async_read(*upstream_, upstreamBuf_, *resParser_,
                     [self = this->shared_from_this()](beast::error_code ec, size_t n) {
                       self->binding_.record().bytesFromTarget += n;
                       if (self->closed_) return;
                       if (ec) return self->upstreamFailed(ec, "answered badly");
                       unsigned status = self->resParser_->get().result_int();
                       if (status >= 100 && status < 200) return self->readUpstream();
                       self->respond();
                     });
  }

  void respond() {
    outRes_.emplace(resParser_->release());
    resParser_.reset();
    if (identified_ && !handshakeLeg_) noteTargetVerdict(outRes_->result_int());
    bool upstreamKeepAlive = outRes_->keep_alive();
    stripHopByHop(*outRes_);
    keepAlive_ = clientKeepAlive_ && upstreamKeepAlive;
    outRes_->keep_alive(keepAlive_);
    outRes_->prepare_payload();
    lowest(client_).expires_after(cfg_.requestTimeout);
    http::async_write(
        client_, *outRes_,
        [self = this->shared_from_this(), upstreamKeepAlive](beast::error_code ec, size_t) {
          if (self->closed_) return;
          self->outRes_.reset();
          if (ec) return self->clientGone(ec);
          if (!self->keepAlive_)
            return self->finish(
                upstreamKeepAlive ? EndReason::ClientClosed : EndReason::TargetClosed, "");
          self->readHead();
        });
  }

  // The connection is connected once the target has accepted the user's
  // credentials: its first answer to a named request that is not 401.
  void noteTargetVerdict(unsigned status) {
    if (connected_) return;
    if (status == 401) {
      credentialsRefused_ = true;
      return;
    }
    connected_ = true;
    front_->audit(connectEntry(binding_.record()));
  }

  void upstreamFailed(beast::error_code ec, const std::string& what) {
    if (closed_) return;
    std::string detail = "target " + target_->name + " " + what;
    if (ec) detail += ": " + ec.message();
    spdlog::warn("{}: {} (client {}, user {})", front_->name, detail, sourceText_,
                 user_.empty() ? "-" : user_);
    bool targetClosed = ec == asio::error::eof || ec == http::error::end_of_stream ||
                        ec == asio::error::connection_reset;
    writeThenClose(502, "jitgate: " + detail,
                   targetClosed ? EndReason::TargetClosed : EndReason::Error, detail);
  }

  // --- Answers of our own
  // A refusal: audit entry, a one-line reason to the client, connection closed.
  void refuse(unsigned status, SessionRefusal reason, const std::string& message) {
    if (closed_) return;
    std::string user = user_.empty() ? userForRefusal_ : user_;
    refusalAudited_ = true;
    auto entry = refusalEntry(front_->name, user, target_ ? target_->name : std::string(),
                              target_ ? std::optional<uint16_t>(port_) : std::nullopt, sourceText_,
                              reason, message);
    if (identified_)
      front_->audit(std::move(entry));
    else
      front_->preAuth.record(std::move(entry));
    spdlog::info("{}: refused {} from {}: {} ({})", front_->name, user.empty() ? "-" : user,
                 sourceText_, printable(message, 300), toString(reason));
    writeThenClose(status, "jitgate: " + message, EndReason::Error,
                   "refused: " + std::string(toString(reason)));
  }

  void writeThenClose(unsigned status, std::string text, EndReason why, std::string note) {
    auto res = std::make_shared<http::response<http::string_body>>();
    res->version(11);
    res->result(status);
    res->set(http::field::server, "jitgated");
    // A WS-Man fault: what pywinrm and PowerShell show their user.
    res->set(http::field::content_type, "application/soap+xml;charset=UTF-8");
    res->body() = wsmanFault(text);
    res->keep_alive(false);
    res->prepare_payload();
    if (upstream_) {
      beast::error_code ignored;
      lowest(*upstream_).socket().shutdown(tcp::socket::shutdown_both, ignored);
      lowest(*upstream_).close();
    }
    lowest(client_).expires_after(std::chrono::seconds(5));
    http::async_write(client_, *res,
                      [self = this->shared_from_this(), res, why, note](beast::error_code, size_t) {
                        self->finish(why, note);
                      });
  }

  void writeChallenge() {
    challenge_ = false;
    auto res = std::make_shared<http::response<http::string_body>>();
    res->version(11);
    res->result(http::status::unauthorized);
    res->set(http::field::server, "jitgated");
    res->insert(http::field::www_authenticate, "Negotiate");
    res->insert(http::field::www_authenticate, "NTLM");
    res->insert(http::field::www_authenticate, "Basic realm=\"jitgate\"");
    res->set(http::field::content_type, "text/plain; charset=utf-8");
    res->body() = "jitgate: credentials needed (Basic, NTLM or a jitgate client certificate)\n";
    res->keep_alive(clientKeepAlive_);
    res->prepare_payload();
    lowest(client_).expires_after(cfg_.requestTimeout);
    http::async_write(client_, *res,
                      [self = this->shared_from_this(), res](beast::error_code ec, size_t) {
                        if (self->closed_) return;
                        if (ec) return self->clientGone(ec);
                        if (!self->clientKeepAlive_)
                          return self->finish(EndReason::ClientClosed, "");
                        self->readHead();
                      });
  }

  // Closes both connections at once (pending operations end with
  // operation_aborted) and writes the disconnect record.
  void finish(EndReason why, const std::string& note) {
    if (closed_) return;
    closed_ = true;
    deadline_.cancel();
    resolver_.cancel();
    beast::error_code ignored;
    lowest(client_).socket().shutdown(tcp::socket::shutdown_both, ignored);
    lowest(client_).close();
    if (upstream_) {
      lowest(*upstream_).socket().shutdown(tcp::socket::shutdown_both, ignored);
      lowest(*upstream_).close();
    }
    binding_.unbind();
    if (connected_) {
      front_->audit(disconnectEntry(binding_.record(), why, note));
      spdlog::info("{}: {} to {} ended: {} {}", front_->name, user_, target_->name, toString(why),
                   note);
    } else if (identified_ && !refusalAudited_) {
      // Admitted by the grant, never accepted by the target: not a session.
      bool targetFailed = why == EndReason::Error || why == EndReason::TargetClosed;
      SessionRefusal reason = credentialsRefused_ ? SessionRefusal::TargetRefusedCredentials
                              : targetFailed      ? SessionRefusal::TargetUnreachable
                                                  : SessionRefusal::EndedBeforeConnected;
      std::string message =
          credentialsRefused_
              ? "the target answered 401 to " + user_ + "'s credentials"
              : "ended before the target accepted the credentials: " + std::string(toString(why)) +
                    (note.empty() ? "" : " ") + note;
      front_->audit(
          refusalEntry(front_->name, user_, target_->name, port_, sourceText_, reason, message));
    }
    front_->live.erase(id_);
  }

  std::shared_ptr<WinrmFront::Shared> front_;
  const WinrmFrontConfig& cfg_;
  uint64_t id_;
  Stream client_;
  std::optional<Stream> upstream_;
  tcp::resolver resolver_;
  asio::steady_timer deadline_;
  beast::flat_buffer clientBuf_;
  beast::flat_buffer upstreamBuf_;
  std::optional<HttpRequestParser> parser_;
  std::string headBytes_;  // the header block as received (for the obs-fold check)
  std::optional<http::response_parser<http::string_body>> resParser_;
  std::optional<http::request<http::string_body>> outReq_;
  std::optional<http::response<http::string_body>> outRes_;

  IpAddress source_;
  std::string sourceText_;
  SourceSlot slot_;
  std::string certUser_;     // from a verified client certificate
  std::string certTarget_;   // the target that certificate is for
  std::string certRefusal_;  // why a presented certificate was refused
  std::optional<Target> target_;
  uint16_t port_ = 0;
  std::string upstreamPath_;
  std::string user_;
  std::string userForRefusal_;
  bool identified_ = false;
  bool connected_ = false;           // the target accepted the credentials
  bool credentialsRefused_ = false;  // the target answered 401 to them
  bool refusalAudited_ = false;
  GrantBinding binding_;  // once identified: the session's grant, its cutoff
  bool handshakeLeg_ = false;
  int negotiateLegs_ = 0;
  std::optional<size_t> fieldsAtLastChunk_;
  std::function<void(std::uint64_t, beast::string_view, beast::error_code&)> chunkHeaderCb_;
  // A request that names no user yet (the 401 challenge, NTLM's first leg)
  // has no business carrying a big body.
  static constexpr uint64_t kUnnamedBodyLimit = 64 * 1024;
  bool challenge_ = false;
  int challenges_ = 0;
  bool mintUpstreamCert_ = false;
  bool clientKeepAlive_ = true;
  bool keepAlive_ = true;
  bool closed_ = false;
};

}  // namespace

// ---------------------------------------------------------------------------

WinrmFront::WinrmFront(std::shared_ptr<Shared> shared) : shared_(std::move(shared)) {}

WinrmFront::~WinrmFront() { stop(); }

Result<std::unique_ptr<WinrmFront>> WinrmFront::open(asio::io_context& io, GrantEngine& engine,
                                                     SessionRegistry& registry,
                                                     CertificateAuthority& authority,
                                                     const WinrmFrontConfig& config,
                                                     const std::string& stateDir,
                                                     WinrmScheme scheme) {
  auto shared = std::make_shared<Shared>(io, engine, registry, authority, config, scheme);
  const auto& listen = scheme == WinrmScheme::Https ? config.httpsListen : config.httpListen;
  std::string field = scheme == WinrmScheme::Https ? "winrm.https_listen" : "winrm.http_listen";
  if (!listen) return invalid(field, "the front is off");

  if (scheme == WinrmScheme::Https) {
    auto files = ensureWinrmServerCertificate(config, stateDir);
    if (!files) return files.refusal();
    boost::system::error_code ec;
    shared->serverTls.emplace(ssl::context::tls_server);
    auto& server = *shared->serverTls;
    server.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                       ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    server.use_certificate_chain_file(files->certFile, ec);
    if (ec) return tlsError("winrm tls_cert " + files->certFile + ": " + ec.message());
    server.use_private_key_file(files->keyFile, ssl::context::pem, ec);
    if (ec) return tlsError("winrm tls_key " + files->keyFile + ": " + ec.message());
    SSL_CTX* sctx = server.native_handle();
    // Ask for a client certificate, decide after the handshake (a refusal is
    // an HTTP answer with its reason, not a TLS alert).
    SSL_CTX_set_verify(sctx, SSL_VERIFY_PEER, [](int, X509_STORE_CTX*) { return 1; });
    static const unsigned char kContext[] = "jitgate-winrm";
    SSL_CTX_set_session_id_context(sctx, kContext, sizeof kContext - 1);
    std::string caPem = authority.x509CaPem();
    BioPtr bio(BIO_new_mem_buf(caPem.data(), static_cast<int>(caPem.size())));
    X509Ptr ca(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
    if (!ca || SSL_CTX_add_client_CA(sctx, ca.get()) != 1)
      return tlsError("naming jitgate's client CA: " + opensslError());

    shared->upstreamTls.emplace(ssl::context::tls_client);
    auto& up = *shared->upstreamTls;
    up.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                   ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    if (!config.upstreamCaFile.empty())
      up.load_verify_file(config.upstreamCaFile, ec);
    else
      up.set_default_verify_paths(ec);
    if (ec)
      return tlsError("winrm upstream_ca_file " + config.upstreamCaFile + ": " + ec.message());
    up.set_verify_mode(ssl::verify_peer);
  }

  auto addr = asio::ip::make_address(listen->host);
  tcp::endpoint ep(addr, listen->port);
  boost::system::error_code ec;
  auto& acc = shared->acceptor;
  acc.open(ep.protocol(), ec);
  if (!ec) acc.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acc.bind(ep, ec);
  if (!ec) acc.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Refusal{RefusalCode::Unavailable, field, listen->toString() + ": " + ec.message()};
  return std::unique_ptr<WinrmFront>(new WinrmFront(std::move(shared)));
}

namespace {
// Why one more connection from `source` is over the front's limits, if it is.
std::optional<std::string> overLimit(const WinrmFront::Shared& front, const std::string& source) {
  const auto& c = front.config;
  if (front.live.size() >= static_cast<size_t>(c.maxConnections))
    return std::to_string(front.live.size()) +
           " connections are open, the limit (winrm.max_connections)";
  auto it = front.bySource.find(source);
  if (it != front.bySource.end() && it->second >= c.maxPerSource)
    return std::to_string(it->second) + " connections from " + source +
           " are open, the limit for one address (winrm.max_per_source)";
  return std::nullopt;
}
}  // namespace

void WinrmFront::start() { accept(); }

void WinrmFront::accept() {
  auto shared = shared_;
  shared->acceptor.async_accept([shared, this](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !shared->acceptor.is_open()) return;
    if (ec) {
      spdlog::warn("{}: accept: {}", shared->name, ec.message());
    } else {
      beast::error_code rec;
      auto remote = socket.remote_endpoint(rec);
      auto source = rec ? Result<IpAddress>(invalid("source", rec.message()))
                        : IpAddress::parse(remote.address().to_string());
      std::optional<std::string> full;
      if (source) full = overLimit(*shared, source->toString());
      if (!source) {
        spdlog::warn("{}: peer address: {}", shared->name, source.refusal().describe());
      } else if (full) {
        // Closed unanswered: an answer would cost a TLS handshake to a client
        // who holds too much already.
        spdlog::warn("{}: refused a connection from {}: {}", shared->name, source->toString(),
                     *full);
        shared->preAuth.record(refusalEntry(shared->name, "", "", std::nullopt, source->toString(),
                                            SessionRefusal::ConnectionLimit, *full));
      } else {
        socket.set_option(tcp::no_delay(true), rec);
        uint64_t id = shared->nextId++;
        std::shared_ptr<ConnectionBase> conn;
        if (shared->scheme == WinrmScheme::Https) {
          auto c = std::make_shared<Connection<true>>(shared, id, std::move(socket), *source);
          conn = c;
          shared->live.emplace(id, conn);
          c->run();
        } else {
          auto c = std::make_shared<Connection<false>>(shared, id, std::move(socket), *source);
          conn = c;
          shared->live.emplace(id, conn);
          c->run();
        }
      }
    }
    accept();
  });
}

void WinrmFront::stop() {
  if (!shared_ || !shared_->acceptor.is_open()) return;
  shared_->preAuth.flush();
  boost::system::error_code ec;
  shared_->acceptor.close(ec);
  std::vector<std::shared_ptr<ConnectionBase>> conns;
  for (auto& [id, weak] : shared_->live)
    if (auto c = weak.lock()) conns.push_back(c);
  for (auto& c : conns) c->shutdown();
  shared_->live.clear();
}

std::string WinrmFront::boundAddress() const {
  boost::system::error_code ec;
  auto ep = shared_->acceptor.local_endpoint(ec);
  if (ec) return "?";
  ListenAddress a{ep.address().to_string(), ep.port()};
  return a.toString();
}

const char* WinrmFront::name() const { return shared_->name.c_str(); }

size_t WinrmFront::liveConnections() const { return shared_->live.size(); }

}  // namespace jitgate
