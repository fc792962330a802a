// The WinRM front: WS-Man over HTTP (5985) and HTTPS (5986), relayed to the
// target named in the request only while the user holds a grant for the
// target's WinRM port from the client's address; each client connection has
// its own upstream connection (NTLM authenticates connections), and both are
// cut when the window ends or the grant is revoked. docs/WINRM.md.
#pragma once

#include <boost/asio/io_context.hpp>
#include <memory>
#include <string>

#include "jitgate/authority.hpp"
#include "jitgate/engine.hpp"
#include "jitgate/proxy/config.hpp"
#include "jitgate/proxy/session_registry.hpp"
#include "jitgate/result.hpp"

namespace jitgate {

enum class WinrmScheme { Http, Https };

// Where the HTTPS front's certificate and key are: the configured files, or
// <stateDir>/winrm/tls.crt and tls.key (key 0600, directory 0700), a
// self-signed ECDSA P-256 certificate for localhost, 127.0.0.1, ::1, this
// host's name and, with a domain, *.<domain>, valid 397 days: made on first
// start, and made again at a start when fewer than 30 days are left or when
// an older build made it for longer (one an admin put there is kept).
struct WinrmTlsFiles {
  std::string certFile;
  std::string keyFile;
};
Result<WinrmTlsFiles> ensureWinrmServerCertificate(const WinrmFrontConfig& config,
                                                   const std::string& stateDir);

class WinrmFront {
 public:
  // Binds and listens (refusing with the reason when it cannot), loads the
  // TLS material for the HTTPS front. Everything runs on `io`, the engine's.
  static Result<std::unique_ptr<WinrmFront>> open(boost::asio::io_context& io, GrantEngine& engine,
                                                  SessionRegistry& registry,
                                                  CertificateAuthority& authority,
                                                  const WinrmFrontConfig& config,
                                                  const std::string& stateDir, WinrmScheme scheme);
  ~WinrmFront();
  WinrmFront(const WinrmFront&) = delete;
  WinrmFront& operator=(const WinrmFront&) = delete;

  void start();
  // Stops accepting and closes every live connection (audit reason shutdown).
  void stop();
  // "127.0.0.1:5985": the address actually bound (port 0 resolved).
  std::string boundAddress() const;
  const char* name() const;  // winrm-http | winrm-https
  size_t liveConnections() const;

  struct Shared;  // what every connection of this front uses

 private:
  explicit WinrmFront(std::shared_ptr<Shared> shared);
  // Accepts on the front's own listener (0) or Shared::targetListeners[n - 1].
  void accept(size_t listener);
  std::shared_ptr<Shared> shared_;
};

}  // namespace jitgate
