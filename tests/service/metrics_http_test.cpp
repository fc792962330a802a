// The metrics endpoint's HTTP server on a real loopback socket: what it
// answers, what it refuses unanswered, and that stopping closes everything.
#include "jitgate/service/metrics_http.hpp"

#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <future>
#include <thread>

namespace jitgate {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

class MetricsHttpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<MetricsHttp>(io_, [this] {
      ++renders_;
      return std::string("jitgate_up 1\n");
    });
    ASSERT_TRUE(server_->listen({"127.0.0.1", 0}).ok());
    auto at = server_->boundAddress();
    port_ = static_cast<uint16_t>(std::stoi(at.substr(at.rfind(':') + 1)));
    thread_ = std::thread([this] { io_.run(); });
  }
  void TearDown() override {
    asio::post(io_, [this] { server_->stop(); });
    work_.reset();
    thread_.join();
    server_.reset();
  }

  tcp::socket connect() {
    tcp::socket s(client_);
    s.connect({asio::ip::make_address("127.0.0.1"), port_});
    return s;
  }
  // One request on `s`; the response, or nullopt when the server closed.
  std::optional<http::response<http::string_body>> ask(tcp::socket& s, http::verb verb,
                                                       const std::string& target,
                                                       bool keepAlive = true) {
    http::request<http::empty_body> req{verb, target, 11};
    req.set(http::field::host, "127.0.0.1");
    req.keep_alive(keepAlive);
    beast::error_code ec;
    http::write(s, req, ec);
    if (ec) return std::nullopt;
    http::response_parser<http::string_body> p;
    if (verb == http::verb::head) p.skip(true);
    beast::flat_buffer buf;
    http::read(s, buf, p, ec);
    if (ec) return std::nullopt;
    return p.release();
  }
  // True when the server closed `s` without a byte (a reset when it left
  // some of what we sent unread).
  static bool closedUnanswered(tcp::socket& s) {
    char c;
    beast::error_code ec;
    size_t n = s.read_some(asio::buffer(&c, 1), ec);
    return n == 0 && (ec == asio::error::eof || ec == asio::error::connection_reset);
  }

  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_ = asio::make_work_guard(io_);
  asio::io_context client_;
  std::unique_ptr<MetricsHttp> server_;
  std::thread thread_;
  uint16_t port_ = 0;
  std::atomic<int> renders_{0};
};

TEST_F(MetricsHttpTest, GetAndHeadOfMetricsOnOneConnection) {
  auto s = connect();
  auto r = ask(s, http::verb::get, "/metrics");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->result(), http::status::ok);
  EXPECT_EQ((*r)[http::field::content_type], "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(r->body(), "jitgate_up 1\n");
  auto again = ask(s, http::verb::get, "/metrics?name[]=x");  // kept alive; a query is ignored
  ASSERT_TRUE(again);
  EXPECT_EQ(again->body(), "jitgate_up 1\n");
  auto head = ask(s, http::verb::head, "/metrics", false);
  ASSERT_TRUE(head);
  EXPECT_EQ(head->result(), http::status::ok);
  EXPECT_EQ((*head)[http::field::content_length], "13");
  EXPECT_TRUE(closedUnanswered(s));  // Connection: close was asked for
  EXPECT_EQ(renders_, 3);
}

TEST_F(MetricsHttpTest, AnotherPathOrMethodIsRefusedWithoutRendering) {
  auto s = connect();
  auto notFound = ask(s, http::verb::get, "/");
  ASSERT_TRUE(notFound);
  EXPECT_EQ(notFound->result(), http::status::not_found);
  auto nested = ask(s, http::verb::get, "/metrics/x");
  ASSERT_TRUE(nested);
  EXPECT_EQ(nested->result(), http::status::not_found);
  auto post = ask(s, http::verb::post, "/metrics");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->result(), http::status::method_not_allowed);
  EXPECT_EQ((*post)[http::field::allow], "GET, HEAD");
  EXPECT_EQ(renders_, 0);
}

TEST_F(MetricsHttpTest, ABodyOrOversizedHeadersCloseTheConnectionUnanswered) {
  auto s = connect();
  std::string withBody = "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello";
  asio::write(s, asio::buffer(withBody));
  EXPECT_TRUE(closedUnanswered(s));
  auto big = connect();
  std::string huge =
      "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Pad: " + std::string(9000, 'a') + "\r\n\r\n";
  beast::error_code ec;
  asio::write(big, asio::buffer(huge), ec);
  EXPECT_TRUE(closedUnanswered(big));
  auto garbage = connect();
  asio::write(garbage, asio::buffer(std::string("\x01\x02 not http\r\n\r\n")));
  EXPECT_TRUE(closedUnanswered(garbage));
  EXPECT_EQ(renders_, 0);
}

TEST_F(MetricsHttpTest, ConnectionsBeyondTheBoundAreClosedUnanswered) {
  std::vector<tcp::socket> held;
  for (int i = 0; i < 16; ++i) {
    held.push_back(connect());
    ASSERT_TRUE(ask(held.back(), http::verb::get, "/metrics"));  // accepted and served
  }
  auto extra = connect();
  EXPECT_TRUE(closedUnanswered(extra));
  held.pop_back();  // one goes: room for another
  std::optional<http::response<http::string_body>> r;
  for (int i = 0; i < 100 && !r; ++i) {
    auto s = connect();
    r = ask(s, http::verb::get, "/metrics");
    if (!r) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(r);
}

TEST_F(MetricsHttpTest, StopClosesTheListenerAndOpenConnections) {
  auto s = connect();
  ASSERT_TRUE(ask(s, http::verb::get, "/metrics"));
  std::promise<void> stopped;
  asio::post(io_, [&] {
    server_->stop();
    stopped.set_value();
  });
  stopped.get_future().wait();
  EXPECT_TRUE(closedUnanswered(s));
  tcp::socket late(client_);
  beast::error_code ec;
  late.connect({asio::ip::make_address("127.0.0.1"), port_}, ec);
  EXPECT_EQ(ec, asio::error::connection_refused);
  EXPECT_EQ(server_->boundAddress(), "off");
}

TEST(MetricsHttpListen, AnAddressThatIsNotAnIpIsRefusedNamingTheField) {
  asio::io_context io;
  MetricsHttp server(io, [] { return std::string(); });
  auto st = server.listen({"localhost", 0});
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.refusal().field, "metrics.listen");
  EXPECT_EQ(server.boundAddress(), "off");
}

}  // namespace
}  // namespace jitgate
