// The WinRM front's listeners and public API (winrm_front.hpp, docs/WINRM.md):
// the TLS contexts made at open, accepting within max_connections, stopping.
// Each connection is a WinrmConnection (winrm_connection.hpp).
#include "jitgate/proxy/winrm_front.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <optional>
#include <string>
#include <vector>

#include "jitgate/proxy/listen.hpp"
#include "jitgate/proxy/session_registry.hpp"
#include "winrm_connection.hpp"
#include "winrm_tls.hpp"

namespace jitgate {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

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
    shared->serverTls.emplace(ssl::context::tls_server);
    if (auto st = configureServerTls(*shared->serverTls, *files, authority.x509CaPem()); !st)
      return st.refusal();
    shared->upstreamTls.emplace(ssl::context::tls_client);
    if (auto st = configureUpstreamTls(*shared->upstreamTls, config.upstreamCaFile); !st)
      return st.refusal();
  }

  if (auto st = listenOn(shared->acceptor, *listen, field); !st) return st.refusal();
  const auto& own =
      scheme == WinrmScheme::Https ? config.httpsTargetListen : config.httpTargetListen;
  for (const auto& t : own) {
    auto listener = std::make_unique<Shared::TargetListener>(
        Shared::TargetListener{t.target, tcp::acceptor(io)});
    std::string ownField = (scheme == WinrmScheme::Https ? "winrm.https_target_listen."
                                                         : "winrm.http_target_listen.") +
                           t.target;
    if (auto st = listenOn(listener->acceptor, t.listen, ownField); !st) return st.refusal();
    shared->targetListeners.push_back(std::move(listener));
  }
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

void WinrmFront::start() {
  accept(0);
  for (size_t i = 0; i < shared_->targetListeners.size(); ++i) {
    const auto& t = *shared_->targetListeners[i];
    spdlog::info("{}: {} has a listener of its own on {} (requests there go to {})", shared_->name,
                 t.target, boundTo(t.acceptor), t.target);
    accept(i + 1);
  }
}

void WinrmFront::accept(size_t listener) {
  auto shared = shared_;
  auto& acceptor =
      listener == 0 ? shared->acceptor : shared->targetListeners[listener - 1]->acceptor;
  std::string target = listener == 0 ? "" : shared->targetListeners[listener - 1]->target;
  acceptor.async_accept([shared, this, &acceptor, listener, target](boost::system::error_code ec,
                                                                    tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
    if (ec) {
      spdlog::warn("{}: accept: {}", shared->name, ec.message());
    } else {
      boost::system::error_code rec;
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
        startWinrmConnection(shared, shared->nextId++, std::move(socket), *source, target);
      }
    }
    accept(listener);
  });
}

void WinrmFront::stop() {
  if (!shared_ || !shared_->acceptor.is_open()) return;
  shared_->preAuth.flush();
  boost::system::error_code ec;
  shared_->acceptor.close(ec);
  for (auto& t : shared_->targetListeners) t->acceptor.close(ec);
  std::vector<std::shared_ptr<WinrmConnection>> conns;
  for (auto& [id, weak] : shared_->live)
    if (auto c = weak.lock()) conns.push_back(c);
  for (auto& c : conns) c->shutdown();
  shared_->live.clear();
}

std::string WinrmFront::boundAddress() const { return boundTo(shared_->acceptor); }

const char* WinrmFront::name() const { return shared_->name.c_str(); }

size_t WinrmFront::liveConnections() const { return shared_->live.size(); }

}  // namespace jitgate
