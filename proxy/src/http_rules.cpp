// Strict HTTP rules on top of Beast's parser (see http_rules.hpp).
#include "jitgate/proxy/http_rules.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <vector>

namespace jitgate {

namespace http = boost::beast::http;

bool hasObsFold(std::string_view raw) {
  for (size_t i = 0; i + 2 < raw.size(); ++i)
    if (raw[i] == '\r' && raw[i + 1] == '\n' && (raw[i + 2] == ' ' || raw[i + 2] == '\t'))
      return true;
  return false;
}

bool checkRequestHead(const http::request_header<>& head, HttpRefusal& why) {
  auto refuse = [&](unsigned status, std::string reason) {
    why = HttpRefusal{status, std::move(reason)};
    return false;
  };
  if (head.version() != 11) return refuse(505, "only HTTP/1.1 is accepted");
  size_t contentLength = 0, transferEncoding = 0, host = 0, authorization = 0;
  for (const auto& f : head) {
    switch (f.name()) {
      case http::field::content_length: {
        ++contentLength;
        auto v = f.value();
        if (v.empty() || v.find_first_not_of("0123456789") != std::string_view::npos)
          return refuse(400, "Content-Length is not a number");
        break;
      }
      case http::field::transfer_encoding:
        ++transferEncoding;
        if (!boost::beast::iequals(f.value(), "chunked"))
          return refuse(400, "Transfer-Encoding other than chunked");
        break;
      case http::field::host:
        ++host;
        break;
      case http::field::authorization:
        ++authorization;
        break;
      case http::field::upgrade:
        return refuse(400, "Upgrade is not accepted");
      default:
        break;
    }
  }
  if (contentLength > 1) return refuse(400, "duplicate Content-Length");
  if (transferEncoding > 1) return refuse(400, "duplicate Transfer-Encoding");
  if (contentLength && transferEncoding)
    return refuse(400, "both Content-Length and Transfer-Encoding");
  if (host != 1) return refuse(400, host ? "duplicate Host" : "no Host header");
  if (authorization > 1) return refuse(400, "duplicate Authorization");
  return true;
}

HeadProgress feedRequestHead(HttpRequestParser& parser, std::string_view bytes,
                             std::string& headBytes, size_t headerLimit, size_t bodyLimit) {
  HeadProgress p;
  boost::system::error_code ec;
  p.consumed = parser.put(boost::asio::buffer(bytes.data(), bytes.size()), ec);
  headBytes.append(bytes.substr(0, p.consumed));
  if (ec == http::error::need_more) {
    p.state = HeadState::NeedMore;
    return p;
  }
  if (ec) {
    p.state = HeadState::Refused;
    p.refusal = refusalFor(ec, headerLimit, bodyLimit);
    return p;
  }
  if (!parser.is_header_done()) {
    p.state = HeadState::NeedMore;
    return p;
  }
  // headBytes is exactly the header block Beast accepted.
  if (hasObsFold(headBytes)) {
    p.state = HeadState::Refused;
    p.refusal = HttpRefusal{400, "obsolete line folding (obs-fold) in a header"};
    return p;
  }
  if (!checkRequestHead(parser.get().base(), p.refusal)) {
    p.state = HeadState::Refused;
    return p;
  }
  p.state = HeadState::Done;
  return p;
}

HttpRefusal refusalFor(const boost::system::error_code& ec, size_t headerLimit, size_t bodyLimit) {
  if (ec == http::error::header_limit)
    return {431,
            "request header larger than " +
                (headerLimit ? std::to_string(headerLimit) + " bytes" : std::string("the limit"))};
  if (ec == http::error::body_limit)
    return {413, "request body larger than " +
                     (bodyLimit ? std::to_string(bodyLimit) + " bytes" : std::string("the limit"))};
  if (ec == http::error::bad_chunk || ec == http::error::bad_chunk_extension)
    return {400, "invalid chunk"};
  if (ec == http::error::bad_line_ending) return {400, "bare CR or LF in the header"};
  if (ec == http::error::multiple_content_length) return {400, "duplicate Content-Length"};
  if (ec == http::error::bad_content_length) return {400, "invalid Content-Length"};
  if (ec == http::error::bad_transfer_encoding) return {400, "invalid Transfer-Encoding"};
  return {400, "malformed HTTP request (" + ec.message() + ")"};
}

void stripHopByHop(http::fields& fields) {
  std::vector<std::string> named;
  for (const auto& f : fields) {
    if (f.name() != http::field::connection) continue;
    std::string_view v = f.value();
    size_t pos = 0;
    while (pos <= v.size()) {
      size_t comma = v.find(',', pos);
      std::string_view tok = v.substr(pos, comma == std::string_view::npos ? v.npos : comma - pos);
      while (!tok.empty() && (tok.front() == ' ' || tok.front() == '\t')) tok.remove_prefix(1);
      while (!tok.empty() && (tok.back() == ' ' || tok.back() == '\t')) tok.remove_suffix(1);
      if (!tok.empty()) named.emplace_back(tok);
      if (comma == std::string_view::npos) break;
      pos = comma + 1;
    }
  }
  for (const auto& n : named) fields.erase(n);
  for (auto f : {http::field::connection, http::field::keep_alive, http::field::proxy_connection,
                 http::field::proxy_authenticate, http::field::proxy_authorization, http::field::te,
                 http::field::trailer, http::field::transfer_encoding, http::field::upgrade})
    fields.erase(f);
}

}  // namespace jitgate
