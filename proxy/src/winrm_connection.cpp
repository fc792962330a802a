// One WinRM client connection (winrm_connection.hpp). One Connection object
// per client connection, alive through shared_from_this as in Beast's
// advanced server; it owns the pinned upstream connection. Every read,
// write, connect and handshake has a deadline; headers and bodies have
// limits; everything runs on the daemon's one io_context. docs/WINRM.md.
#include "winrm_connection.hpp"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <functional>
#include <optional>

#include "grant_binding.hpp"
#include "jitgate/handle.hpp"
#include "jitgate/model.hpp"
#include "jitgate/proxy/http_rules.hpp"
#include "jitgate/proxy/winrm_identity.hpp"
#include "jitgate/text.hpp"
#include "winrm_claim.hpp"
#include "winrm_fault.hpp"
#include "winrm_tls.hpp"
#include "wsman_command.hpp"

namespace jitgate {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

namespace {

constexpr size_t kReadBufferBytes = 64 * 1024;    // upstream reads
constexpr size_t kClientBufferBytes = 16 * 1024;  // client reads (requests are small)

template <bool Tls>
class Connection : public WinrmConnection, public std::enable_shared_from_this<Connection<Tls>> {
  using Stream = std::conditional_t<Tls, beast::ssl_stream<beast::tcp_stream>, beast::tcp_stream>;

 public:
  Connection(std::shared_ptr<WinrmFront::Shared> front, uint64_t id, tcp::socket socket,
             IpAddress source, std::string listenerTarget)
      : front_(std::move(front)),
        listenerTarget_(std::move(listenerTarget)),
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

    WinrmRequestHead head;
    head.post = req.method() == http::verb::post;
    head.target = req.target();
    head.host = req[http::field::host];
    if (auto auth = req.find(http::field::authorization); auth != req.end())
      head.authorization = auth->value();
    WinrmConnectionSoFar soFar{listenerTarget_, target_ ? &*target_ : nullptr,
                               user_,           certUser_,
                               certTarget_,     certRefusal_};
    auto checked = checkWinrmClaim(head, soFar, front_->engine, cfg_.domain, cfg_.accountDomains);
    if (auto* no = std::get_if<WinrmClaimRefusal>(&checked)) {
      if (no->target && !target_) serve(*no->target);
      if (!no->user.empty()) userForRefusal_ = no->user;
      return refuse(no->status, no->reason, no->message);
    }
    const WinrmClaim& claim = std::get<WinrmClaim>(checked);
    if (!target_) serve(claim.target);
    upstreamPath_ = claim.upstreamPath;
    userForRefusal_ = claim.auditUser;
    const ClientCredential& cred = claim.credential;
    std::string user = claim.user;

    handshakeLeg_ = false;
    challenge_ = false;
    if (user.empty()) {
      if (cred.scheme == AuthScheme::NtlmNegotiate) {
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
      if (cred.scheme == AuthScheme::CertificateMutual)
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
          (cred.scheme == AuthScheme::None || cred.scheme == AuthScheme::CertificateMutual);
      establish(user, d);
    } else {
      binding_.moveTo(d);
    }
    readBody();
  }

  // The connection's one target, from its first request on.
  void serve(const Target& t) {
    target_ = t;
    port_ = Tls ? target_->winrmHttpsPort : target_->winrmHttpPort;
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
        self->finish(why,
                     endMessage(self->target_->name, at, why, self->binding_.record().endNote));
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
    // Audited once the target has answered it (respond).
    if (identified_ && !handshakeLeg_) command_ = parseWsmanCommand(req.body());
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
    if (command_ && connected_)
      front_->audit(commandEntry(binding_.record(), "command", command_->line()));
    command_.reset();
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
  std::string listenerTarget_;  // the target of a listener of its own, else empty
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
  std::optional<WsmanCommand> command_;  // the relayed request's, if it is a Command

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

void startWinrmConnection(const std::shared_ptr<WinrmFront::Shared>& front, uint64_t id,
                          tcp::socket socket, const IpAddress& source, std::string target) {
  auto run = [&](auto conn) {
    front->live.emplace(id, conn);
    conn->run();
  };
  if (front->scheme == WinrmScheme::Https)
    run(std::make_shared<Connection<true>>(front, id, std::move(socket), source, target));
  else
    run(std::make_shared<Connection<false>>(front, id, std::move(socket), source, target));
}

}  // namespace jitgate
