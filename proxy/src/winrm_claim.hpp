// What one WinRM request claims, checked before any grant is asked: the
// target its path or Host names (one, by name or by an address of its own),
// the same target and user as the connection's earlier requests, credentials
// from an accepted account domain, and a client certificate that names this
// user and this target. winrm_connection.cpp then asks the engine.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "jitgate/engine.hpp"
#include "jitgate/model.hpp"
#include "jitgate/proxy/winrm_identity.hpp"
#include "jitgate/session_refusal.hpp"

namespace jitgate {

// One request's head, as far as the claim goes.
struct WinrmRequestHead {
  bool post = false;
  std::string_view target;                        // the request-target
  std::string_view host;                          // the Host header
  std::optional<std::string_view> authorization;  // absent: no header
};

// What the connection has settled by its earlier requests and its handshake.
struct WinrmConnectionSoFar {
  std::string listenerTarget;      // a listener of one target's own, else empty
  const Target* target = nullptr;  // pinned by the first request
  std::string_view user;           // identified earlier, else empty
  std::string_view certUser;       // from a verified client certificate
  std::string_view certTarget;     // the target that certificate is for
  std::string_view certRefusal;    // why a presented certificate was refused
};

struct WinrmClaim {
  Target target;
  std::string upstreamPath;
  ClientCredential credential;
  std::string user;       // empty: not named yet (a challenge, NTLM's first leg)
  std::string auditUser;  // whom a later refusal names
};

struct WinrmClaimRefusal {
  unsigned status;
  SessionRefusal reason;
  std::string message;
  std::string user;              // whom the audit names, when anyone
  std::optional<Target> target;  // the target the request is for, once known
};

// `domain`: [winrm] domain (Host routing); `accountDomains`: [winrm]
// account_domains.
std::variant<WinrmClaim, WinrmClaimRefusal> checkWinrmClaim(
    const WinrmRequestHead& head, const WinrmConnectionSoFar& soFar, const GrantEngine& engine,
    std::string_view domain, const std::vector<std::string>& accountDomains);

}  // namespace jitgate
