// The control socket: a Unix socket only the admin group reaches, serving
// HTTP/1.1 with Beast and handing each request to the control API.
#include "jitgate/control_server.hpp"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>
#include <cstring>

#include "jitgate/unique_fd.hpp"

namespace jitgate {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using Local = asio::local::stream_protocol;

constexpr size_t kHeaderLimit = 8 * 1024;
constexpr size_t kBodyLimit = 64 * 1024;

Refusal sockError(const std::string& path, const std::string& what) {
  return Refusal{RefusalCode::Unavailable, "control_socket", path + ": " + what};
}

// True when something accepts connections on `path`.
bool someoneListens(const std::string& path) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return true;  // cannot tell: assume yes, do not remove
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::memcpy(sa.sun_path, path.data(), path.size());
  int rc = ::connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  return rc == 0 || errno != ECONNREFUSED;
}

}  // namespace

Result<Local::acceptor> openControlSocket(asio::io_context& io, const ControlSocketOptions& opts) {
  const std::string& path = opts.path;
  if (path.empty() || path[0] != '/') return sockError(path, "must be an absolute path");
  if (path.size() >= sizeof(sockaddr_un::sun_path))
    return sockError(path, "longer than " + std::to_string(sizeof(sockaddr_un::sun_path) - 1) +
                               " bytes, the limit of a Unix socket path");
  std::string dir = path.substr(0, path.rfind('/'));
  if (dir.empty()) dir = "/";
  struct stat ds {};
  if (::lstat(dir.c_str(), &ds) != 0)
    return sockError(path, "directory " + dir + ": " + std::strerror(errno));
  if (!S_ISDIR(ds.st_mode)) return sockError(path, dir + " is not a directory (or is a symlink)");
  if ((ds.st_mode & (S_IWOTH | S_IWGRP)) && !(ds.st_mode & S_ISVTX))
    return sockError(path, dir + " is writable by others: someone could replace the socket");
  if (ds.st_uid != 0 && ds.st_uid != ::geteuid())
    return sockError(path, dir + " is owned by another user");

  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode))
      return sockError(path, "exists and is not a socket; refusing to replace it");
    if (someoneListens(path)) return sockError(path, "another process is listening on it");
    if (::unlink(path.c_str()) != 0)
      return sockError(path,
                       std::string("cannot remove the stale socket: ") + std::strerror(errno));
    spdlog::info("control socket: replaced stale socket {}", path);
  } else if (errno != ENOENT) {
    return sockError(path, std::strerror(errno));
  }

  Local::acceptor acceptor(io);
  boost::system::error_code ec;
  acceptor.open(Local(), ec);
  if (ec) return sockError(path, "socket: " + ec.message());
  // bind() creates the file with the umask applied: make it 0660 from birth.
  mode_t old = ::umask(0117);
  acceptor.bind(Local::endpoint(path), ec);
  ::umask(old);
  if (ec) return sockError(path, "bind: " + ec.message());
  if (opts.group) {
    if (::fchownat(AT_FDCWD, path.c_str(), static_cast<uid_t>(-1), *opts.group,
                   AT_SYMLINK_NOFOLLOW) != 0)
      return sockError(path, std::string("chgrp: ") + std::strerror(errno));
  }
  // bind() made it 0660 under the umask above; check what is there now
  // without following a link.
  struct stat made {};
  if (::lstat(path.c_str(), &made) != 0 || !S_ISSOCK(made.st_mode) || (made.st_mode & 0777) != 0660)
    return sockError(path, "the socket is not what was just created");
  acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return sockError(path, "listen: " + ec.message());
  return acceptor;
}

static ApiResponse internalError() {
  return ApiResponse{500, "application/json",
                     R"({"error":{"code":"internal","field":"","message":"internal error"}})"
                     "\n"};
}

// One connection: read a header, admit or refuse it, then read the body and
// answer; keep-alive loops. Every read has a deadline.
class ControlServer::Session : public std::enable_shared_from_this<ControlServer::Session> {
 public:
  Session(Local::socket socket, ControlApi& api, Caller caller,
          std::shared_ptr<ControlConnections> open, std::chrono::seconds timeout)
      : stream_(std::move(socket)),
        api_(api),
        caller_(std::move(caller)),
        open_(std::move(open)),
        timeout_(timeout) {
    ++open_->live;
    ++open_->byUid[caller_.uid];
  }
  ~Session() {
    --open_->live;
    if (auto it = open_->byUid.find(caller_.uid); it != open_->byUid.end() && --it->second == 0)
      open_->byUid.erase(it);
  }

  void run() { readHeader(); }

 private:
  void readHeader() {
    parser_.emplace();
    parser_->header_limit(kHeaderLimit);
    parser_->body_limit(kBodyLimit);
    stream_.expires_after(timeout_);
    http::async_read_header(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->onHeader(ec); });
  }

  void onHeader(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == asio::error::eof ||
        ec == asio::error::operation_aborted || ec == beast::error::timeout) {
      return close();
    }
    if (ec) return failHttp(ec);
    auto& req = parser_->get();
    keepAlive_ = req.keep_alive();
    target_ = std::string(req.target());
    method_ = req.method();
    std::optional<ApiResponse> refusal;
    try {
      refusal = api_.admit(method_, target_, caller_);
    } catch (const std::exception& e) {
      spdlog::error("control socket: admitting {}: {}", printable(target_, 128), e.what());
      refusal = internalError();
    }
    if (refusal) {
      keepAlive_ = false;  // the body, if any, is never read
      return write(std::move(*refusal));
    }
    if (beast::iequals(req[http::field::expect], "100-continue")) {
      auto cont = std::make_shared<http::response<http::empty_body>>(http::status::continue_, 11);
      http::async_write(stream_, *cont,
                        [self = shared_from_this(), cont](beast::error_code ec, size_t) {
                          if (ec) return self->close();
                          self->readBody();
                        });
      return;
    }
    readBody();
  }

  void readBody() {
    stream_.expires_after(timeout_);
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->onBody(ec); });
  }

  void onBody(beast::error_code ec) {
    if (ec) return failHttp(ec);
    const auto& body = parser_->get().body();
    ApiResponse response;
    try {
      response = api_.handle(method_, target_, body, caller_);
    } catch (const std::exception& e) {
      // A bug must not let one request take the daemon (and every other
      // caller) down; it is logged and answered, and nothing was committed
      // outside the store's transactions.
      spdlog::error("control socket: {} {} by {}: {}", http::to_string(method_),
                    printable(target_, 128), caller_.name, e.what());
      keepAlive_ = false;
      response = internalError();
    }
    write(std::move(response));
  }

  void failHttp(beast::error_code ec) {
    if (ec == beast::error::timeout || ec == asio::error::operation_aborted ||
        ec == asio::error::eof || ec == http::error::partial_message)
      return close();
    unsigned status = 400;
    std::string why = "malformed HTTP request: " + ec.message();
    if (ec == http::error::body_limit) {
      status = 413;
      why = "request body larger than 64 KiB";
    } else if (ec == http::error::header_limit) {
      status = 431;
      why = "request header larger than 8 KiB";
    }
    keepAlive_ = false;
    write(api_.refuseMalformed(status, why, caller_));
  }

  void write(ApiResponse r) {
    auto res = std::make_shared<http::response<http::string_body>>();
    res->version(11);
    res->result(r.status);
    res->set(http::field::server, "jitgated");
    res->set(http::field::content_type, r.contentType);
    res->set(http::field::cache_control, "no-store");
    res->body() = std::move(r.body);
    res->keep_alive(keepAlive_);
    res->prepare_payload();
    stream_.expires_after(timeout_);
    http::async_write(stream_, *res,
                      [self = shared_from_this(), res](beast::error_code ec, size_t) {
                        if (ec || !self->keepAlive_) return self->close();
                        self->readHeader();
                      });
  }

  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(Local::socket::shutdown_both, ignored);
    stream_.close();
  }

  beast::basic_stream<Local> stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  ControlApi& api_;
  Caller caller_;
  std::shared_ptr<ControlConnections> open_;
  std::chrono::seconds timeout_;
  std::string target_;
  http::verb method_ = http::verb::unknown;
  bool keepAlive_ = false;
};

ControlServer::ControlServer(asio::io_context& io, Local::acceptor acceptor, ControlApi& api,
                             RoleConfig roles, ControlSocketOptions opts)
    : io_(io),
      acceptor_(std::move(acceptor)),
      api_(api),
      roles_(std::move(roles)),
      opts_(std::move(opts)),
      open_(std::make_shared<ControlConnections>()),
      daemonUid_(::geteuid()),
      refusals_(io, "control connections refused", 10,
                [&api](AuditEntry e) { api.audit(std::move(e)); }) {}

ControlServer::~ControlServer() { stop(); }

void ControlServer::start() { accept(); }

void ControlServer::stop() {
  if (!acceptor_.is_open()) return;
  refusals_.flush();
  boost::system::error_code ec;
  acceptor_.close(ec);
  // Remove the socket only if it is still ours.
  struct stat st {};
  if (::lstat(opts_.path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) ::unlink(opts_.path.c_str());
}

void ControlServer::accept() {
  acceptor_.async_accept([this](boost::system::error_code ec, Local::socket socket) {
    if (ec == asio::error::operation_aborted) return;
    if (ec) {
      spdlog::warn("control socket: accept: {}", ec.message());
      return accept();
    }
    ucred cred{};
    socklen_t len = sizeof cred;
    if (::getsockopt(socket.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
      spdlog::warn("control socket: SO_PEERCRED: {}", std::strerror(errno));
      return accept();
    }
    Caller caller = identifyCaller(cred.uid, cred.gid, cred.pid, roles_, daemonUid_);
    if (auto why = refuseConnection(opts_, *open_, caller)) {
      refuse(std::move(socket), caller, *why);
    } else {
      std::make_shared<Session>(std::move(socket), api_, std::move(caller), open_,
                                opts_.requestTimeout)
          ->run();
    }
    accept();
  });
}

std::optional<std::string> refuseConnection(const ControlSocketOptions& opts,
                                            const ControlConnections& open, const Caller& caller) {
  auto held = open.byUid.find(caller.uid);
  size_t mine = held == open.byUid.end() ? 0 : held->second;
  if (open.live >= opts.maxConnections)
    return std::to_string(open.live) + " control connections are open, the limit " +
           "(control.max_connections)";
  if (caller.roles.admin) return std::nullopt;
  if (open.live + opts.adminReserve >= opts.maxConnections)
    return std::to_string(open.live) + " control connections are open; the last " +
           std::to_string(opts.adminReserve) + " are kept for admins (control.admin_reserve)";
  if (mine >= opts.maxConnectionsPerUid)
    return "uid " + std::to_string(caller.uid) + " holds " + std::to_string(mine) +
           " control connections, the limit for one uid (control.max_connections_per_uid)";
  return std::nullopt;
}

// A connection over the limits: one short answer if the socket takes it at
// once (never waiting on a caller who holds too much already), then closed.
void ControlServer::refuse(Local::socket socket, const Caller& caller, const std::string& why) {
  std::string body =
      R"({"error":{"code":"unavailable","field":"connection","message":")" + why + "\"}}\n";
  std::string res =
      "HTTP/1.1 503 Service Unavailable\r\nServer: jitgated\r\n"
      "Content-Type: application/json\r\nConnection: close\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body;
  boost::system::error_code ec;
  socket.non_blocking(true, ec);
  if (!ec) socket.write_some(asio::buffer(res), ec);
  socket.close(ec);
  spdlog::warn("control socket: refused a connection from {}: {}", caller.name, why);
  AuditEntry e;
  e.actor = caller.name;
  e.action = "control.refused";
  e.outcome = "denied";
  e.detail = "reason=connection_limit: " + why;
  refusals_.record(std::move(e));
}

}  // namespace jitgate
