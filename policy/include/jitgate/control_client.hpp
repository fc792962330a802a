// The client side of the control socket (jitctl, benchmarks): one HTTP/1.1
// exchange per call over a Unix stream socket, synchronous for the caller,
// bounded in size and time.
#pragma once

#include <boost/beast/http/verb.hpp>
#include <chrono>
#include <cstddef>
#include <string>

#include "jitgate/result.hpp"

namespace jitgate {

struct HttpReply {
  unsigned status = 0;
  std::string contentType;
  std::string body;
};

struct CallLimits {
  std::chrono::milliseconds timeout{30000};  // connect, send and receive, each
  size_t bodyLimit = 64 * 1024 * 1024;       // the audit log's CSV export can be large
};

// Sends one request and returns the daemon's answer, whatever its status.
// Refuses (Unavailable, with a message naming the socket path) only when no
// well-formed answer came back: cannot connect, timeout, malformed HTTP.
// The refusal's field tells the two apart: kNotAnAnswer when something did
// answer, but not with an HTTP reply within the limits (garbled, too
// large); empty when nothing answered at all (a transport failure).
inline constexpr const char* kNotAnAnswer = "answer";
Result<HttpReply> callApi(const std::string& socketPath, boost::beast::http::verb method,
                          const std::string& target, const std::string& jsonBody,
                          const CallLimits& limits = {});

// The refusal an error reply carries (`{"error": {"code", "field",
// "message"}}`), or one naming the HTTP status when the body is not that.
Refusal apiRefusal(const HttpReply& reply);

}  // namespace jitgate
