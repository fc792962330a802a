// The control socket: HTTP/1.1 over a Unix stream socket, callers identified
// by SO_PEERCRED. Runs on the daemon's io_context.
#pragma once

#include <sys/types.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "jitgate/audit_throttle.hpp"
#include "jitgate/control_api.hpp"
#include "jitgate/result.hpp"
#include "jitgate/roles.hpp"

namespace jitgate {

struct ControlSocketOptions {
  std::string path;
  std::optional<gid_t> group;  // group owner of the socket (mode 0660)
  // Connections open at once: in all, from one non-admin uid, and how many
  // of the whole are kept for admins (so that no requester holding idle
  // connections can stop an admin's revoke).
  size_t maxConnections = 64;
  size_t maxConnectionsPerUid = 8;
  size_t adminReserve = 8;
  std::chrono::seconds requestTimeout{10};
};

// Whether one more connection from `caller` may be served, given those open
// now; the refusal names the limit and its setting.
struct ControlConnections {
  size_t live = 0;
  std::unordered_map<uid_t, size_t> byUid;
};
std::optional<std::string> refuseConnection(const ControlSocketOptions& opts,
                                            const ControlConnections& open, const Caller& caller);

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
  // A reload's new connection limits, for connections accepted from now on.
  void setLimits(size_t maxConnections, size_t perUid, size_t adminReserve) {
    opts_.maxConnections = maxConnections;
    opts_.maxConnectionsPerUid = perUid;
    opts_.adminReserve = adminReserve;
  }

 private:
  class Session;
  void accept();
  void refuse(boost::asio::local::stream_protocol::socket socket, const Caller& caller,
              const std::string& why);

  boost::asio::io_context& io_;
  boost::asio::local::stream_protocol::acceptor acceptor_;
  ControlApi& api_;
  RoleConfig roles_;
  ControlSocketOptions opts_;
  std::shared_ptr<ControlConnections> open_;  // shared with the sessions
  uid_t daemonUid_;
  ThrottledAudit refusals_;
};

}  // namespace jitgate
