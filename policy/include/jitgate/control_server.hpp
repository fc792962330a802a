// The control socket: HTTP/1.1 over a Unix stream socket, callers identified
// by SO_PEERCRED. Runs on the daemon's io_context.
#pragma once

#include <sys/types.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <memory>
#include <optional>
#include <string>

#include "jitgate/control_api.hpp"
#include "jitgate/result.hpp"
#include "jitgate/roles.hpp"

namespace jitgate {

struct ControlSocketOptions {
  std::string path;
  std::optional<gid_t> group;  // group owner of the socket (mode 0660)
  size_t maxConnections = 64;
  std::chrono::seconds requestTimeout{10};
};

// Creates the listening socket safely: the parent directory must exist and
// not be writable by others (unless sticky); an existing path is replaced only
// when it is a socket nobody listens on; never follows a symlink; mode 0660.
Result<boost::asio::local::stream_protocol::acceptor> openControlSocket(
    boost::asio::io_context& io, const ControlSocketOptions& opts);

class ControlServer {
 public:
  ControlServer(boost::asio::io_context& io, boost::asio::local::stream_protocol::acceptor acceptor,
                ControlApi& api, RoleConfig roles, ControlSocketOptions opts);
  ~ControlServer();
  void start();
  void stop();
  // A reload's new role lists, for connections accepted from now on.
  void setRoles(RoleConfig roles) { roles_ = std::move(roles); }

 private:
  class Session;
  void accept();

  boost::asio::io_context& io_;
  boost::asio::local::stream_protocol::acceptor acceptor_;
  ControlApi& api_;
  RoleConfig roles_;
  ControlSocketOptions opts_;
  std::shared_ptr<size_t> live_;  // sessions alive; shared with them
  uid_t daemonUid_;
};

}  // namespace jitgate
