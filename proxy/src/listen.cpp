// Opening a listening acceptor (listen.hpp).
#include "jitgate/proxy/listen.hpp"

namespace jitgate {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

Status listenOn(tcp::acceptor& acc, const ListenAddress& listen, const std::string& field) {
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(listen.host, ec);
  if (ec)
    return Refusal{RefusalCode::InvalidArgument, field,
                   "'" + listen.host + "' is not an IP address"};
  tcp::endpoint ep(addr, listen.port);
  acc.open(ep.protocol(), ec);
  if (!ec) acc.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acc.bind(ep, ec);
  if (!ec) acc.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Refusal{RefusalCode::Unavailable, field, listen.toString() + ": " + ec.message()};
  return okStatus();
}

std::string boundTo(const tcp::acceptor& acc) {
  boost::system::error_code ec;
  auto ep = acc.local_endpoint(ec);
  if (ec) return "?";
  return ListenAddress{ep.address().to_string(), ep.port()}.toString();
}

}  // namespace jitgate
