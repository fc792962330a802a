// One client connection of the SSH front: accept, key exchange,
// authentication, then either a shell on the target through the bastion's
// own hop (USER@TARGET) or direct-tcpip channels (USER), each held by its
// grant; refusals audited, pre-authentication counted, and the teardown.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <string>

#include "jitgate/net.hpp"
#include "jitgate/proxy/session_registry.hpp"
#include "ssh_front_state.hpp"

namespace jitgate {

class SshConnection {
 public:
  // A connection from `source`; start() takes its socket (it is in
  // front->connections from then until it ends).
  static std::shared_ptr<SshConnection> create(std::shared_ptr<SshFront::Shared> front,
                                               std::string source, const IpAddress& sourceIp);
  virtual ~SshConnection() = default;
  virtual void start(boost::asio::ip::tcp::socket socket) = 0;
  // Closes everything with `why` (the daemon stopping).
  virtual void shutdown(EndReason why) = 0;
};

}  // namespace jitgate
