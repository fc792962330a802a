// Which enrolled target a connection means when it names a host: by name,
// else by address, where several targets may share one (engine.hpp).
#include <algorithm>
#include <cctype>

#include "jitgate/engine.hpp"

namespace jitgate {

namespace {

// Host names compare without case; IP literals by their value ("::1" is
// "0:0::1", "10.0.0.5" is "::ffff:10.0.0.5").
bool sameAddress(const std::string& a, const std::string& b) {
  auto ia = IpAddress::parse(a), ib = IpAddress::parse(b);
  if (ia && ib) return *ia == *ib;
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

}  // namespace

std::vector<Target> GrantEngine::targetsNamed(const std::string& nameOrAddress) const {
  std::shared_lock lock(mu_);
  if (auto it = targets_.find(nameOrAddress); it != targets_.end()) return {it->second};
  std::vector<Target> at;
  for (const auto& [name, t] : targets_)
    if (sameAddress(t.address, nameOrAddress)) at.push_back(t);
  std::sort(at.begin(), at.end(), [](const Target& x, const Target& y) { return x.name < y.name; });
  return at;
}

std::vector<std::string> GrantEngine::sharingAddress(const Target& t) const {
  std::vector<std::string> others;
  for (const auto& o : targetsNamed(t.address))
    if (o.name != t.name) others.push_back(o.name);
  return others;
}

TargetDecision GrantEngine::decideAt(const std::string& nameOrAddress, const std::string& user,
                                     uint16_t port, const IpAddress& source) const {
  TargetDecision out;
  auto candidates = targetsNamed(nameOrAddress);
  if (candidates.empty()) {
    out.decision.reason = SessionRefusal::UnknownTarget;
    out.decision.message = "no enrolled target named or at '" + nameOrAddress + "'";
    return out;
  }
  if (candidates.size() == 1) {
    out.target = candidates.front();
    out.decision = decide(user, out.target->name, port, source);
    return out;
  }
  // One address, several targets: the one whose grant covers this user,
  // port and source; refused, with every candidate named, if not exactly one.
  std::vector<std::string> all, covered;
  std::optional<SessionRefusal> common;
  bool mixed = false;
  for (const auto& t : candidates) {
    all.push_back(t.name);
    auto d = decide(user, t.name, port, source);
    if (d.allowed) {
      covered.push_back(t.name);
      if (covered.size() == 1) {
        out.target = t;
        out.decision = d;
      }
    } else if (!common) {
      common = d.reason;
    } else if (*common != d.reason) {
      mixed = true;
    }
  }
  if (covered.size() == 1) return out;
  out.target.reset();
  out.decision = Decision{};
  std::string where = nameOrAddress + " is the address of " + joined(all);
  if (covered.empty()) {
    out.decision.reason = common && !mixed ? *common : SessionRefusal::NoGrant;
    out.decision.message = "no grant of " + user + " covers port " + std::to_string(port) +
                           " on any target at " + nameOrAddress + " (" + where + ")";
  } else {
    out.decision.reason = SessionRefusal::AmbiguousTarget;
    out.decision.message = where + ", and grants on " + joined(covered) + " cover port " +
                           std::to_string(port) + ": name the target instead of its address";
  }
  return out;
}

}  // namespace jitgate
