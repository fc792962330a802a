// What the WinRM front reads from a request before it forwards anything: who
// is asking (the user name in Basic credentials or in an NTLM AUTHENTICATE
// message; the credentials themselves are never changed) and which target
// the request is for (first path segment, the Host name under the configured
// domain, or the listener it came to). Pure functions, unit-tested and fuzzed
// (tests/fuzz/fuzz_winrm_auth.cpp). Wire formats: docs/WINRM.md.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "jitgate/result.hpp"

namespace jitgate {

// The largest Authorization value the front looks into.
inline constexpr size_t kMaxAuthorizationBytes = 16 * 1024;

enum class AuthScheme {
  None,               // no Authorization header
  Basic,              // user name known
  NtlmNegotiate,      // NTLM NEGOTIATE (type 1): a handshake leg, no user yet
  NtlmAuthenticate,   // NTLM AUTHENTICATE (type 3): user name known
  CertificateMutual,  // WS-Man's https/mutual profile: the user comes from the TLS certificate
};
std::string_view toString(AuthScheme s);

struct ClientCredential {
  AuthScheme scheme = AuthScheme::None;
  std::string user;    // jitgate user name (Basic, NtlmAuthenticate)
  std::string domain;  // the Windows domain or Kerberos realm the client named, if any
};

// Parses an Authorization header value. Basic "DOMAIN\user:pw" and
// "user@domain:pw" both give "user" with its domain (see
// acceptAccountDomain); NTLM and Negotiate carry a raw NTLMSSP
// message or one wrapped in SPNEGO. The user name must be a valid jitgate
// name (1..64 of [A-Za-z0-9._-]). Refusals (field "authorization") name the
// reason: unsupported scheme (Kerberos, CredSSP, ...), malformed, anonymous.
Result<ClientCredential> parseAuthorization(std::string_view value);

// Whether a credential's domain or realm may ride a grant of its bare user
// name: a bare name always; "DOMAIN\\user", "user@realm" or an NTLM domain
// only when `accepted` names it (case-insensitive; `[winrm]
// account_domains`). Otherwise EVIL\\alice would ride alice's grant. The
// refusal (field "authorization") names the domain and the setting.
Status acceptAccountDomain(const ClientCredential& c, const std::vector<std::string>& accepted);

// The user name of an NTLM AUTHENTICATE message (MS-NLMP 2.2.1.3), raw bytes.
// Exposed for tests and the fuzzer.
Result<ClientCredential> parseNtlmAuthenticate(std::string_view message);

struct Route {
  std::string target;        // the name (or address) the client gave
  std::string upstreamPath;  // the request-target sent to the target
  bool byHost = false;       // named by Host, not by path
};

// Names the target of a request. With a configured domain and a Host of
// "<name>.<domain>[:port]" the Host names it and the path goes upstream as
// is; otherwise the first path segment names it and is removed
// ("/vm1/wsman?x" -> "vm1", "/wsman?x"). Only origin-form request targets.
Result<Route> routeRequest(std::string_view requestTarget, std::string_view host,
                           std::string_view domain);

// A request on a listener of one target's own (WinrmTargetListen): that
// target, whatever the path or Host say, and the path goes upstream as is
// ("/wsman", all pywinrm's Session sends). Only origin-form request targets.
Result<Route> routeToListenerTarget(std::string_view requestTarget, std::string_view target);

}  // namespace jitgate
