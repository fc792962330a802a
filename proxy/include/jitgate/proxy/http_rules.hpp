// Strict HTTP for the WinRM front: Beast parses, these rules refuse what
// Beast tolerates but a relay must not pass on (request smuggling: both
// Content-Length and Transfer-Encoding, duplicate Content-Length, obs-fold,
// codings other than chunked), and strip hop-by-hop headers before a message
// crosses the bastion. Pure, unit-tested (tests/proxy/http_rules_test.cpp).
#pragma once

#include <boost/beast/http/error.hpp>
#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <string>
#include <string_view>

namespace jitgate {

using HttpRequestParser = boost::beast::http::request_parser<boost::beast::http::string_body>;

// Why a request is refused before anything is forwarded: the status for the
// client and a one-line reason.
struct HttpRefusal {
  unsigned status = 400;
  std::string reason;
};

enum class HeadState { NeedMore, Done, Refused };
struct HeadProgress {
  HeadState state = HeadState::NeedMore;
  size_t consumed = 0;  // bytes of `bytes` the parser took
  HttpRefusal refusal;  // when Refused
};

// Feeds received bytes to a request parser that has not finished its header.
// Beast takes the header piecewise; the bytes it took are kept in `headBytes`
// (bounded by the parser's header limit), and when the header completes they
// are checked for obs-fold and the parsed header against checkRequestHead().
// The caller consumes `consumed` bytes from its buffer, and reads more while
// NeedMore. Refusals name the limits given (a Content-Length over the
// body limit is refused with the header: 413).
HeadProgress feedRequestHead(HttpRequestParser& parser, std::string_view bytes,
                             std::string& headBytes, size_t headerLimit = 0, size_t bodyLimit = 0);

// The rules on a parsed request header (see the file comment).
bool checkRequestHead(const boost::beast::http::request_header<>& head, HttpRefusal& why);
// True when the raw header block holds an obs-fold (CRLF followed by SP or HTAB).
bool hasObsFold(std::string_view rawHeader);

// What a parse error means for the client: 413 body too large, 431 header
// too large, 400 for the rest.
HttpRefusal refusalFor(const boost::system::error_code& ec, size_t headerLimit, size_t bodyLimit);

// Removes hop-by-hop headers (RFC 9110 7.6.1): Connection and every header it
// names, Keep-Alive, Proxy-Connection, Proxy-Authenticate,
// Proxy-Authorization, TE, Trailer, Transfer-Encoding, Upgrade.
void stripHopByHop(boost::beast::http::fields& fields);

}  // namespace jitgate
