// The pure policy logic: whether a target can be enforced, whether a policy
// is valid, and the windows a request or grant yields under a policy.
#include "jitgate/windows.hpp"

#include <algorithm>
#include <set>

namespace jitgate {
namespace {

std::string describeSources(const std::vector<Cidr>& sources) {
  std::string s;
  for (const auto& c : sources) {
    if (!s.empty()) s += ", ";
    s += c.toString();
  }
  return s;
}

std::string describePorts(const Policy& p) {
  std::string s;
  for (const auto& r : p.ports) {
    if (!s.empty()) s += ", ";
    s += std::to_string(r.number);
  }
  return s;
}

bool isUnspecified(const IpAddress& a) {
  const auto& b = a.bytes();
  if (a.isV4()) return b[12] == 0 && b[13] == 0 && b[14] == 0 && b[15] == 0;
  return std::all_of(b.begin(), b.end(), [](uint8_t x) { return x == 0; });
}

}  // namespace

std::string describePolicy(const Policy& p) {
  std::string s;
  for (const auto& r : p.ports) {
    if (!s.empty()) s += "; ";
    s += "port " + std::to_string(r.number) + "/" + r.protocol + " from " +
         describeSources(r.allowedSources) + " max " + formatDurationIso(r.maxDuration);
  }
  if (p.requireApproval) s += "; approval required";
  return s;
}

std::optional<std::string> unsupportedReason(const Target& t) {
  auto ip = IpAddress::parse(t.address);
  if (!ip) {
    if (!validateAddress(t.address, "address")) return "address is not a host name or IP address";
    return std::nullopt;
  }
  const auto& b = ip->bytes();
  if (isUnspecified(*ip)) return "address " + t.address + " is unspecified: nothing to connect to";
  if (ip->isV4()) {
    if (b[12] >= 224 && b[12] <= 239) return "address " + t.address + " is multicast";
    if (b[12] == 255 && b[13] == 255 && b[14] == 255 && b[15] == 255)
      return "address " + t.address + " is the broadcast address";
  } else if (b[0] == 0xff) {
    return "address " + t.address + " is multicast";
  }
  return std::nullopt;
}

Status validatePolicy(const Policy& p) {
  if (p.ports.empty()) return invalid("ports", "a policy needs at least one port rule");
  if (p.ports.size() > 64) return invalid("ports", "at most 64 port rules");
  std::set<uint16_t> seen;
  for (size_t i = 0; i < p.ports.size(); ++i) {
    const auto& r = p.ports[i];
    std::string f = "ports[" + std::to_string(i) + "].";
    if (r.number == 0) return invalid(f + "number", "must be 1..65535");
    if (!seen.insert(r.number).second)
      return invalid(f + "number", "port " + std::to_string(r.number) + " appears twice");
    if (r.protocol != "tcp")
      return invalid(f + "protocol", "'" + r.protocol.substr(0, 16) +
                                         "' is not supported: the bastion relays TCP only");
    if (r.allowedSources.empty())
      return invalid(f + "allowedSourceAddressPrefixes", "needs at least one prefix (or *)");
    if (r.allowedSources.size() > 256)
      return invalid(f + "allowedSourceAddressPrefixes", "at most 256 prefixes");
    if (r.maxDuration < kMinMaxDuration || r.maxDuration > kMaxMaxDuration)
      return invalid(f + "maxRequestAccessDuration",
                     formatDurationIso(r.maxDuration) + " is outside PT5M..P1D");
  }
  if (p.minRequestPrefixV4 < 0 || p.minRequestPrefixV4 > 32)
    return invalid("minRequestPrefixV4", "must be 0..32");
  if (p.minRequestPrefixV6 < 0 || p.minRequestPrefixV6 > 128)
    return invalid("minRequestPrefixV6", "must be 0..128");
  return okStatus();
}

Result<std::vector<Grant>> planWindows(const Policy* policy, const Target& target,
                                       const std::vector<RequestedPort>& ports, SysTime now,
                                       bool anySourceAllowed, FieldNames names) {
  if (!policy)
    return Refusal{RefusalCode::PolicyViolation, "target",
                   "target '" + target.name + "' has no JIT policy: an admin must enable one"};
  if (ports.empty()) return invalid("ports", "at least one port is needed");
  if (ports.size() > 64) return invalid("ports", "at most 64 ports in one request");
  // Refusals name the field as the caller wrote it: "port" in a grant,
  // "ports[0].number" in a request.
  auto field = [&](size_t i, const char* name) {
    std::string n = name;
    if (names == FieldNames::Grant) return n;
    if (n == "port") n = "number";
    return "ports[" + std::to_string(i) + "]." + n;
  };
  std::set<uint16_t> seen;
  std::vector<Grant> out;
  for (size_t i = 0; i < ports.size(); ++i) {
    const auto& p = ports[i];
    if (p.number == 0) return invalid(field(i, "port"), "must be 1..65535");
    if (!seen.insert(p.number).second)
      return invalid(field(i, "port"), "port " + std::to_string(p.number) + " asked twice");
    const PortRule* rule = policy->rule(p.number);
    if (!rule)
      return Refusal{RefusalCode::PolicyViolation, field(i, "port"),
                     "port " + std::to_string(p.number) +
                         " is not configured in the JIT policy "
                         "of '" +
                         target.name + "' (configured: " + describePorts(*policy) + ")"};
    if (p.source.isAny() && !anySourceAllowed)
      return Refusal{RefusalCode::PolicyViolation, field(i, "source"),
                     p.source.toString() +
                         " admits every address; only an admin may grant it, "
                         "and only with allowAnySource (jitctl --allow-any-source)"};
    // A requester's source must be narrow (the policy's minimum prefix per
    // family), so that wide requests cannot add up to everyone.
    if (names == FieldNames::Request && !p.source.isAny()) {
      bool v4 = p.source.base().isV4();
      int min = v4 ? policy->minRequestPrefixV4 : policy->minRequestPrefixV6;
      if (p.source.prefixLength() < min)
        return Refusal{RefusalCode::PolicyViolation, field(i, "source"),
                       p.source.toString() + " is wider than a request may ask for on '" +
                           target.name + "': at least /" + std::to_string(min) + " for " +
                           (v4 ? "IPv4" : "IPv6") + " (the policy's " +
                           (v4 ? "minRequestPrefixV4" : "minRequestPrefixV6") +
                           "; an admin can grant wider)"};
    }
    if (!rule->allowsSource(p.source))
      return Refusal{RefusalCode::PolicyViolation, field(i, "source"),
                     p.source.toString() + " is not inside the allowed source prefixes of port " +
                         std::to_string(p.number) + " (" + describeSources(rule->allowedSources) +
                         ")"};
    if (p.duration.has_value() == p.endTime.has_value())
      return invalid(field(i, "duration"), "give either a duration or an end time, not both");
    Seconds length{0};
    if (p.endTime) {
      if (*p.endTime <= now)
        return invalid(field(i, "endTimeUtc"),
                       formatTimestamp(*p.endTime) + " is not in the future");
      length = *p.endTime - now;
    } else {
      length = *p.duration;
    }
    if (length <= Seconds(0)) return invalid(field(i, "duration"), "must be greater than zero");
    if (length > rule->maxDuration)
      return Refusal{RefusalCode::PolicyViolation, field(i, p.endTime ? "endTimeUtc" : "duration"),
                     "window of " + formatDurationIso(length) + " exceeds the maximum " +
                         formatDurationIso(rule->maxDuration) + " for port " +
                         std::to_string(p.number)};
    Grant g;
    g.target = target.name;
    g.port = p.number;
    g.source = p.source;
    g.start = now;
    g.end = now + length;
    out.push_back(std::move(g));
  }
  return out;
}

}  // namespace jitgate
