// The metrics endpoint's HTTP server (metrics_http.hpp): GET or HEAD
// /metrics answered with the exposition text, anything else with 404 or
// 405; requests without a body, headers of at most 8 KiB, a deadline per
// request and a bound on connections, as for any listener facing a network.
#include "jitgate/service/metrics_http.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <unordered_set>

#include "jitgate/proxy/listen.hpp"

namespace jitgate {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {
constexpr size_t kMaxConnections = 16;  // Prometheus keeps one open per scraper
constexpr uint32_t kHeaderLimit = 8 * 1024;
constexpr auto kRequestTimeout = std::chrono::seconds(10);
constexpr const char* kContentType = "text/plain; version=0.0.4; charset=utf-8";
}  // namespace

struct MetricsHttp::Shared : std::enable_shared_from_this<MetricsHttp::Shared> {
  Shared(asio::io_context& i, std::function<std::string()> r)
      : io(i), acceptor(i), render(std::move(r)) {}
  asio::io_context& io;
  tcp::acceptor acceptor;
  std::function<std::string()> render;
  bool stopped = false;
  class Connection;
  std::unordered_set<Connection*> live;

  void accept();
};

class MetricsHttp::Shared::Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(std::shared_ptr<Shared> server, tcp::socket s)
      : server_(std::move(server)), stream_(std::move(s)) {
    server_->live.insert(this);
  }
  ~Connection() { server_->live.erase(this); }
  void start() { read(); }
  void close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.close();
  }

 private:
  void read() {
    parser_.emplace();
    parser_->header_limit(kHeaderLimit);
    parser_->body_limit(0);
    stream_.expires_after(kRequestTimeout);
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->onRead(ec); });
  }

  void onRead(beast::error_code ec) {
    if (ec || server_->stopped) return close();  // timeout, reset, malformed: nothing to answer
    const auto& req = parser_->get();
    auto res = std::make_shared<http::response<http::string_body>>();
    res->version(req.version());
    res->set(http::field::server, "jitgated");
    std::string_view target(req.target().data(), req.target().size());
    std::string_view path = target.substr(0, target.find('?'));
    bool head = req.method() == http::verb::head;
    if (req.method() != http::verb::get && !head) {
      res->result(http::status::method_not_allowed);
      res->set(http::field::allow, "GET, HEAD");
      res->set(http::field::content_type, "text/plain; charset=utf-8");
      res->body() = "only GET and HEAD\n";
    } else if (path != "/metrics") {
      res->result(http::status::not_found);
      res->set(http::field::content_type, "text/plain; charset=utf-8");
      res->body() = "not found: metrics are at /metrics\n";
    } else {
      res->result(http::status::ok);
      res->set(http::field::content_type, kContentType);
      res->body() = server_->render();
    }
    res->keep_alive(req.keep_alive());
    res->prepare_payload();
    if (head) res->body().clear();  // Content-Length stays the GET's
    http::async_write(stream_, *res,
                      [self = shared_from_this(), res](beast::error_code wec, size_t) {
                        if (wec || !res->keep_alive() || self->server_->stopped)
                          return self->close();
                        self->read();
                      });
  }

  std::shared_ptr<Shared> server_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::empty_body>> parser_;
};

void MetricsHttp::Shared::accept() {
  acceptor.async_accept([self = shared_from_this()](beast::error_code ec, tcp::socket s) {
    if (self->stopped || !self->acceptor.is_open()) return;
    if (!ec) {
      if (self->live.size() >= kMaxConnections) {
        beast::error_code ignored;
        s.close(ignored);  // over the bound: closed unanswered
      } else {
        std::make_shared<Connection>(self, std::move(s))->start();
      }
    }
    self->accept();
  });
}

MetricsHttp::MetricsHttp(asio::io_context& io, std::function<std::string()> render)
    : shared_(std::make_shared<Shared>(io, std::move(render))) {}

MetricsHttp::~MetricsHttp() { stop(); }

Status MetricsHttp::listen(const ListenAddress& at) {
  if (auto st = listenOn(shared_->acceptor, at, "metrics.listen"); !st) return st;
  shared_->accept();
  return okStatus();
}

std::string MetricsHttp::boundAddress() const {
  if (!shared_->acceptor.is_open()) return "off";
  return boundTo(shared_->acceptor);
}

void MetricsHttp::stop() {
  if (shared_->stopped) return;
  shared_->stopped = true;
  beast::error_code ec;
  shared_->acceptor.close(ec);
  // Closing cancels their operations; each goes when its handler has run.
  std::vector<Shared::Connection*> open(shared_->live.begin(), shared_->live.end());
  for (auto* c : open) c->close();
}

}  // namespace jitgate
