// The control API (docs/CONTROL_API.md): HTTP/1.1 + JSON requests in, the
// grant engine's answers out. Transport-free so that it can be tested and
// fuzzed without a socket; control_server.hpp carries it over a Unix socket.
#pragma once

#include <boost/beast/http/verb.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "jitgate/authority.hpp"
#include "jitgate/engine.hpp"
#include "jitgate/live_sessions.hpp"
#include "jitgate/recordings.hpp"
#include "jitgate/roles.hpp"

namespace jitgate {

struct ApiResponse {
  unsigned status = 200;
  std::string contentType = "application/json";
  std::string body;
};

class ControlApi {
 public:
  ControlApi(GrantEngine& engine, std::string version, CertificateAuthority* authority = nullptr);

  // Decides from the request line alone whether the caller may go on: an
  // unknown route, a wrong method or a missing role is answered (and the
  // refusal audited) before the body is read.
  std::optional<ApiResponse> admit(boost::beast::http::verb method, std::string_view target,
                                   const Caller& caller);
  // Serves an admitted request.
  ApiResponse handle(boost::beast::http::verb method, std::string_view target,
                     std::string_view body, const Caller& caller);
  // The fronts' live sessions, for /v1/sessions (set once they exist).
  void serveSessions(LiveSessions* sessions) { sessions_ = sessions; }
  // This node's session recordings, for /v1/recordings (set if kept).
  void serveRecordings(Recordings* recordings) { recordings_ = recordings; }
  // Writes an audit entry of the transport's (a connection refused).
  void audit(AuditEntry e);
  // An answer for a request that could not be parsed at the HTTP level.
  ApiResponse refuseMalformed(unsigned status, const std::string& why, const Caller& caller);

 private:
  struct Call;
  GrantEngine& engine_;
  CertificateAuthority* authority_;
  LiveSessions* sessions_ = nullptr;
  Recordings* recordings_ = nullptr;
  std::string version_;
  std::chrono::steady_clock::time_point started_;
};

}  // namespace jitgate
