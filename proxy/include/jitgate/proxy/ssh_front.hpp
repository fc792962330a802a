// The SSH front of the bastion: a libssh server driven from the daemon's
// Asio loop. "user@target" logins get a shell on the target through the
// bastion's own SSH hop (a certificate minted per session); plain "user"
// logins may open direct-tcpip channels (-J, -L) to granted target ports.
// Every session and channel is cut when the grant that covers it ends.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "jitgate/authority.hpp"
#include "jitgate/control_api.hpp"
#include "jitgate/engine.hpp"
#include "jitgate/proxy/config.hpp"
#include "jitgate/proxy/session_registry.hpp"

namespace jitgate {

struct SshFrontOptions {
  ListenAddress listen;
  std::string stateDir;  // host key <stateDir>/ssh_host_ed25519_key, <stateDir>/known_hosts
  std::chrono::seconds loginGraceTime{30};
  int maxUnauthenticated = 64;
  int maxPerSource = 16;
  int maxAuthAttempts = 6;  // signed attempts; offers count double that
  std::chrono::seconds warnBefore{300};
  std::chrono::seconds connectTimeout{10};
  // Shells and commands of terminating sessions are recorded here (null, or
  // record = off: not at all). Outlives the front.
  RecordingStore* recordings = nullptr;
  // A login without a target runs the bastion's command interface through
  // this API, as the jitgate user (null: such a login forwards only).
  // Outlives the front.
  ControlApi* api = nullptr;
};

struct SshFrontStats {
  size_t connections = 0;  // open client connections
  size_t unauthenticated = 0;
};

class SshFront {
 public:
  // Loads or creates the host key and binds the listening socket.
  static Result<std::unique_ptr<SshFront>> open(boost::asio::io_context& io, GrantEngine& engine,
                                                CertificateAuthority& authority,
                                                SessionRegistry& registry, SshFrontOptions options);
  ~SshFront();
  SshFront(const SshFront&) = delete;
  SshFront& operator=(const SshFront&) = delete;

  boost::asio::ip::tcp::endpoint localEndpoint() const;
  std::string hostKeyFingerprint() const;
  void start();
  // Closes the listener and every connection (audited as "shutdown").
  void stop();
  SshFrontStats stats() const;

  struct Shared;

 private:
  explicit SshFront(std::shared_ptr<Shared> shared);
  std::shared_ptr<Shared> shared_;
};

}  // namespace jitgate
