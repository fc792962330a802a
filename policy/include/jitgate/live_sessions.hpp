// The live sessions of this node's fronts, as the control API shows and
// ends them (GET /v1/sessions, POST /v1/sessions/ID/kill). Implemented by
// the bastion's session registry; the policy component only sees this seam.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "jitgate/result.hpp"

namespace jitgate {

struct LiveSession {
  std::string id;     // "s-" and 16 hex digits, unique for the process's life
  std::string front;  // "ssh" (terminating), "ssh-forward", "winrm-http", "winrm-https"
  std::string user;
  std::string target;
  uint16_t port = 0;
  std::string source;
  std::string grantId;
  std::chrono::sys_time<std::chrono::milliseconds> started{};  // UTC
  uint64_t bytesToTarget = 0;
  uint64_t bytesFromTarget = 0;
  std::string node;  // the host name of the bastion holding it
};

class LiveSessions {
 public:
  virtual ~LiveSessions() = default;
  virtual std::vector<LiveSession> list() const = 0;
  // Ends session `id` at once; the user is told `by` and `reason`. The
  // session is gone before the next turn of the event loop ends. NotFound
  // when no live session has that id.
  virtual Result<LiveSession> kill(const std::string& id, const std::string& by,
                                   const std::string& reason) = 0;
};

}  // namespace jitgate
