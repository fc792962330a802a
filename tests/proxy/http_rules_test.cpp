// Strict HTTP on the WinRM front: what Beast refuses, what the rules add,
// and the hop-by-hop headers a relay drops.
#include "jitgate/proxy/http_rules.hpp"

#include <gtest/gtest.h>

namespace jitgate {
namespace {

namespace http = boost::beast::http;

struct Fed {
  HeadState state;
  HttpRefusal refusal;
  std::string bodyError;
};

// Feeds a whole raw request, header then body, as the front does.
Fed feed(const std::string& raw, size_t headerLimit = 8192, size_t bodyLimit = 1024) {
  HttpRequestParser p;
  p.header_limit(static_cast<uint32_t>(headerLimit));
  p.body_limit(bodyLimit);
  std::string head;
  auto h = feedRequestHead(p, raw, head, headerLimit, bodyLimit);
  Fed f{h.state, h.refusal, ""};
  if (h.state != HeadState::Done) return f;
  boost::system::error_code ec;
  std::string_view rest = std::string_view(raw).substr(h.consumed);
  while (!rest.empty() && !p.is_done()) {
    size_t n = p.put(boost::asio::buffer(rest.data(), rest.size()), ec);
    if (ec == http::error::need_more) break;
    if (ec) {
      f.bodyError = refusalFor(ec, headerLimit, bodyLimit).reason;
      break;
    }
    rest.remove_prefix(n);
  }
  return f;
}

const std::string kHead = "POST /vm1/wsman HTTP/1.1\r\nHost: b\r\n";

TEST(HttpRules, PlainRequestPasses) {
  auto f = feed(kHead + "Content-Length: 5\r\n\r\nhello");
  EXPECT_EQ(f.state, HeadState::Done);
  EXPECT_EQ(f.bodyError, "");
  auto c = feed(kHead + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
  EXPECT_EQ(c.state, HeadState::Done);
  EXPECT_EQ(c.bodyError, "");
}

TEST(HttpRules, HeaderInPiecesIsCheckedWhole) {
  // Beast takes complete lines as they come; an obs-fold split across reads
  // is still seen.
  std::string raw = kHead + "X-A: b\r\n c\r\nContent-Length: 0\r\n\r\n";
  for (size_t cut = 1; cut < raw.size(); ++cut) {
    HttpRequestParser p;
    std::string head;
    std::string first = raw.substr(0, cut);
    auto h = feedRequestHead(p, first, head);
    if (h.state == HeadState::Refused) continue;  // (a bare CR at the cut)
    ASSERT_EQ(h.state, HeadState::NeedMore) << cut;
    std::string rest = first.substr(h.consumed) + raw.substr(cut);
    auto h2 = feedRequestHead(p, rest, head);
    EXPECT_EQ(h2.state, HeadState::Refused) << cut;
    EXPECT_NE(h2.refusal.reason.find("obs-fold"), std::string::npos) << cut;
  }
}

void expectRefused(const std::string& raw, unsigned status, std::string_view part) {
  auto f = feed(raw);
  ASSERT_EQ(f.state, HeadState::Refused) << raw;
  EXPECT_EQ(f.refusal.status, status) << raw;
  EXPECT_NE(f.refusal.reason.find(part), std::string::npos) << f.refusal.reason;
}

TEST(HttpRules, BothContentLengthAndTransferEncoding) {
  expectRefused(kHead + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400,
                "Transfer-Encoding");
  expectRefused(kHead + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", 400,
                "Content-Length");
}

TEST(HttpRules, DuplicateContentLengthEvenWhenEqual) {
  expectRefused(kHead + "Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello", 400,
                "duplicate Content-Length");
  expectRefused(kHead + "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400,
                "Content-Length");
  expectRefused(kHead + "Content-Length: 5, 5\r\n\r\nhello", 400, "Content-Length");
}

TEST(HttpRules, ObsFoldBareCrAndBareLf) {
  expectRefused(kHead + "X-A: b\r\n c\r\nContent-Length: 0\r\n\r\n", 400, "obs-fold");
  expectRefused(kHead + "X-A: b\r\n\tc\r\nContent-Length: 0\r\n\r\n", 400, "obs-fold");
  expectRefused(kHead + "X-A: b\rc\r\nContent-Length: 0\r\n\r\n", 400, "bare CR");
  expectRefused("POST /vm1/wsman HTTP/1.1\nHost: b\nContent-Length: 0\n\n", 400, "");
}

TEST(HttpRules, TransferCodingsOtherThanChunked) {
  expectRefused(kHead + "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 400, "chunked");
  expectRefused(kHead + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400,
                "Transfer-Encoding");
}

TEST(HttpRules, InvalidChunkSizeFailsTheBody) {
  auto f = feed(kHead + "Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n");
  EXPECT_EQ(f.state, HeadState::Done);
  EXPECT_EQ(f.bodyError, "invalid chunk");
  auto big = feed(kHead + "Transfer-Encoding: chunked\r\n\r\nfffffffffffffffffff\r\nx\r\n");
  EXPECT_EQ(big.bodyError, "invalid chunk");
}

TEST(HttpRules, HostAuthorizationUpgradeAndVersion) {
  expectRefused("POST /vm1/wsman HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 400, "no Host");
  expectRefused(kHead + "Host: c\r\nContent-Length: 0\r\n\r\n", 400, "duplicate Host");
  expectRefused(kHead + "Authorization: Basic a\r\nAuthorization: Basic b\r\n\r\n", 400,
                "duplicate Authorization");
  expectRefused(kHead + "Upgrade: websocket\r\nConnection: upgrade\r\n\r\n", 400, "Upgrade");
  expectRefused("POST /vm1/wsman HTTP/1.0\r\nHost: b\r\n\r\n", 505, "HTTP/1.1");
}

TEST(HttpRules, LimitsGive431And413) {
  std::string big = kHead + "X-Big: " + std::string(10000, 'a') + "\r\n\r\n";
  auto h = feed(big, 8192);
  ASSERT_EQ(h.state, HeadState::Refused);
  EXPECT_EQ(h.refusal.status, 431u);
  EXPECT_NE(h.refusal.reason.find("larger than 8192"), std::string::npos) << h.refusal.reason;
  auto b = feed(kHead + "Content-Length: 2000\r\n\r\n" + std::string(2000, 'x'));
  std::string why = b.state == HeadState::Refused ? b.refusal.reason : b.bodyError;
  EXPECT_NE(why.find("larger than 1024"), std::string::npos) << why;
  EXPECT_EQ(refusalFor(http::error::body_limit, 0, 1024).status, 413u);
}

TEST(HttpRules, HopByHopHeadersAreStripped) {
  http::fields f;
  f.set(http::field::connection, "keep-alive, X-Secret");
  f.insert("X-Secret", "1");
  f.set(http::field::keep_alive, "timeout=5");
  f.set(http::field::proxy_authorization, "Basic abc");
  f.set(http::field::te, "trailers");
  f.set(http::field::transfer_encoding, "chunked");
  f.set(http::field::upgrade, "h2c");
  f.set(http::field::authorization, "Basic keep-me");
  f.set(http::field::content_type, "application/soap+xml");
  stripHopByHop(f);
  EXPECT_EQ(f.count(http::field::connection), 0u);
  EXPECT_EQ(f.count("X-Secret"), 0u);
  EXPECT_EQ(f.count(http::field::keep_alive), 0u);
  EXPECT_EQ(f.count(http::field::proxy_authorization), 0u);
  EXPECT_EQ(f.count(http::field::te), 0u);
  EXPECT_EQ(f.count(http::field::transfer_encoding), 0u);
  EXPECT_EQ(f.count(http::field::upgrade), 0u);
  EXPECT_EQ(f[http::field::authorization], "Basic keep-me");
  EXPECT_EQ(f[http::field::content_type], "application/soap+xml");
}

}  // namespace
}  // namespace jitgate
