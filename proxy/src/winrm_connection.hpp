// One WinRM client connection and what the front's connections share: the
// front's configuration, TLS contexts, the live connections.
#pragma once

#include <spdlog/spdlog.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "jitgate/audit_throttle.hpp"
#include "jitgate/net.hpp"
#include "jitgate/proxy/winrm_front.hpp"

namespace jitgate {

class WinrmConnection {
 public:
  virtual ~WinrmConnection() = default;
  virtual void shutdown() = 0;
};

struct WinrmFront::Shared {
  Shared(boost::asio::io_context& io, GrantEngine& engine, SessionRegistry& registry,
         CertificateAuthority& authority, WinrmFrontConfig config, WinrmScheme scheme)
      : io(io),
        engine(engine),
        registry(registry),
        authority(authority),
        config(std::move(config)),
        scheme(scheme),
        name(scheme == WinrmScheme::Https ? "winrm-https" : "winrm-http"),
        acceptor(io) {}

  boost::asio::io_context& io;
  GrantEngine& engine;
  SessionRegistry& registry;
  CertificateAuthority& authority;
  WinrmFrontConfig config;
  WinrmScheme scheme;
  std::string name;
  boost::asio::ip::tcp::acceptor acceptor;
  // Listeners of one target's own (config.httpTargetListen, httpsTargetListen).
  struct TargetListener {
    std::string target;
    boost::asio::ip::tcp::acceptor acceptor;
  };
  std::vector<std::unique_ptr<TargetListener>> targetListeners;
  std::optional<boost::asio::ssl::context> serverTls;
  std::optional<boost::asio::ssl::context> upstreamTls;
  std::unordered_map<uint64_t, std::weak_ptr<WinrmConnection>> live;
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

// Makes the connection for an accepted socket (HTTPS when the front is), in
// front->live under `id` until it ends, and starts it. `listenerTarget`: the
// target of the listener it came to, if that is one target's own.
void startWinrmConnection(const std::shared_ptr<WinrmFront::Shared>& front, uint64_t id,
                          boost::asio::ip::tcp::socket socket, const IpAddress& source,
                          std::string listenerTarget);

}  // namespace jitgate
