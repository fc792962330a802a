// What one WinRM request claims, checked before any grant is asked
// (winrm_claim.hpp). docs/WINRM.md.
#include "winrm_claim.hpp"

#include "jitgate/text.hpp"

namespace jitgate {

std::variant<WinrmClaim, WinrmClaimRefusal> checkWinrmClaim(
    const WinrmRequestHead& head, const WinrmConnectionSoFar& soFar, const GrantEngine& engine,
    std::string_view domain, const std::vector<std::string>& accountDomains) {
  auto refused = [](unsigned status, SessionRefusal reason, std::string message) {
    return WinrmClaimRefusal{status, reason, std::move(message), {}, std::nullopt};
  };
  auto route = soFar.listenerTarget.empty()
                   ? routeRequest(head.target, head.host, domain)
                   : routeToListenerTarget(head.target, soFar.listenerTarget);
  Result<ClientCredential> cred = head.authorization ? parseAuthorization(*head.authorization)
                                                     : Result<ClientCredential>(ClientCredential{});
  std::vector<Target> named;
  if (route) named = engine.targetsNamed(route->target);

  if (!head.post) return refused(405, SessionRefusal::Http, "only POST is relayed (WS-Man)");
  if (!route) return refused(400, SessionRefusal::Routing, route.refusal().message);
  // The user is not known yet, so no grant can choose; and nothing has been
  // authenticated, so the answer names none of the targets.
  if (named.size() > 1)
    return refused(403, SessionRefusal::AmbiguousTarget,
                   printable(route->target, 64) + " is the address of " +
                       std::to_string(named.size()) +
                       " targets: name the target instead of its address");
  if (named.empty())
    return refused(403, SessionRefusal::UnknownTarget,
                   "no target named '" + printable(route->target, 64) + "'");
  const Target& target = named.front();
  if (soFar.target && soFar.target->name != target.name)
    return refused(400, SessionRefusal::Routing,
                   "one connection serves one target (" + soFar.target->name + ")");
  const Target& serving = soFar.target ? *soFar.target : target;
  // From here on the refusal is about this target (and, once known, a user).
  std::string auditUser;
  auto about = [&](unsigned status, SessionRefusal reason, std::string message) {
    return WinrmClaimRefusal{status, reason, std::move(message), auditUser, serving};
  };
  if (!cred) return about(401, SessionRefusal::Identity, cred.refusal().message);
  auditUser = !soFar.certUser.empty() ? std::string(soFar.certUser) : cred->user;
  if (auto st = acceptAccountDomain(*cred, accountDomains); !st)
    return about(403, SessionRefusal::AccountDomain, st.refusal().message);
  if (!soFar.certRefusal.empty())
    return about(403, SessionRefusal::Certificate,
                 "client certificate refused: " + std::string(soFar.certRefusal));
  // A certificate opens only its grant's target.
  if (!soFar.certUser.empty() && soFar.certTarget != serving.name)
    return about(403, SessionRefusal::Certificate,
                 "client certificate refused: wrong_target: it is for target '" +
                     std::string(soFar.certTarget) + "', not '" + serving.name + "'");
  std::string user = cred->user;
  if (!soFar.certUser.empty()) {
    if (!user.empty() && user != soFar.certUser)
      return about(403, SessionRefusal::Identity,
                   "the credentials name " + user + " but the client certificate names " +
                       std::string(soFar.certUser));
    user = soFar.certUser;
  }
  if (!soFar.user.empty() && !user.empty() && user != soFar.user)
    return about(403, SessionRefusal::Identity,
                 "this connection belongs to " + std::string(soFar.user) +
                     "; use a new connection for " + user);
  if (user.empty()) user = soFar.user;
  return WinrmClaim{serving, route->upstreamPath, *cred, user, auditUser};
}

}  // namespace jitgate
