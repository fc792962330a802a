// A TCP acceptor opened, bound and listening on a configured address, the
// one way every front and the metrics endpoint start listening.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <string>

#include "jitgate/proxy/config.hpp"
#include "jitgate/result.hpp"

namespace jitgate {

// Opens `acc` on `listen` (an IP literal and a port; port 0: any free one).
// A refusal names `field` (the configuration key) and the system's reason.
Status listenOn(boost::asio::ip::tcp::acceptor& acc, const ListenAddress& listen,
                const std::string& field);
// Where `acc` listens ("127.0.0.1:40123"), or "?" when it does not.
std::string boundTo(const boost::asio::ip::tcp::acceptor& acc);

}  // namespace jitgate
