#include "jitgate/engine.hpp"

#include <openssl/rand.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

namespace jitgate {
namespace {

using Ms = std::chrono::milliseconds;

std::string newId(char prefix) {
  unsigned char b[8];
  if (RAND_bytes(b, sizeof b) != 1) {
    // Without randomness ids could collide or be guessed; stopping is safer.
    spdlog::critical("RAND_bytes failed: cannot make ids");
    std::abort();
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(1, prefix);
  id += '-';
  for (unsigned char c : b) {
    id += kHex[c >> 4];
    id += kHex[c & 15];
  }
  return id;
}

// Builds the (user, target, port) key in `k`. Decisions reuse one buffer per
// thread so that the hot path does not allocate.
void indexKey(std::string& k, const std::string& user, const std::string& target, uint16_t port) {
  k.clear();
  k.append(user).push_back('\0');
  k.append(target).push_back('\0');
  k.push_back(static_cast<char>(port >> 8));
  k.push_back(static_cast<char>(port & 0xff));
}

std::string indexKey(const std::string& user, const std::string& target, uint16_t port) {
  std::string k;
  indexKey(k, user, target, port);
  return k;
}

std::string userTargetKey(const std::string& user, const std::string& target) {
  std::string k = user;
  k.push_back('\0');
  k.append(target);
  return k;
}

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

bool isUnspecified(const IpAddress& a) {
  const auto& b = a.bytes();
  if (a.isV4()) return b[12] == 0 && b[13] == 0 && b[14] == 0 && b[15] == 0;
  return std::all_of(b.begin(), b.end(), [](uint8_t x) { return x == 0; });
}

}  // namespace

std::string_view toString(DenyReason r) {
  switch (r) {
    case DenyReason::UnknownTarget:
      return "unknown_target";
    case DenyReason::NoGrant:
      return "no_grant";
    case DenyReason::PortNotGranted:
      return "port_not_granted";
    case DenyReason::SourceNotAllowed:
      return "source_not_allowed";
    case DenyReason::NotYetValid:
      return "not_yet_valid";
    case DenyReason::WindowEnded:
      return "window_ended";
  }
  return "denied";
}

std::string_view toString(WindowEnd e) { return e == WindowEnd::Expired ? "expired" : "revoked"; }

std::string_view toString(TargetState s) {
  switch (s) {
    case TargetState::Configured:
      return "configured";
    case TargetState::NotConfigured:
      return "not_configured";
    case TargetState::Unsupported:
      return "unsupported";
  }
  return "unknown";
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

// ---------------------------------------------------------------------------

struct GrantEngine::Index {
  // What a decision needs of a grant, kept inline in its bucket so that a
  // decision touches one cache line per candidate, not a whole Grant.
  struct Window {
    Cidr source;
    SysTime start, end;
    const Grant* grant;  // into byId (node-stable)
  };
  std::unordered_map<std::string, Grant> byId;
  // (user, target, port) -> its active grants.
  std::unordered_map<std::string, std::vector<Window>> byKey;
  std::unordered_map<std::string, int> perUserTarget;
  std::multimap<SysTime, std::string> ends;
};

GrantEngine::GrantEngine(Store& store, const Clock& clock, boost::asio::io_context& io)
    : store_(store), clock_(clock), timer_(io), index_(std::make_unique<Index>()) {}

GrantEngine::~GrantEngine() { timer_.cancel(); }

SysTime GrantEngine::now() const { return std::chrono::floor<Seconds>(clock_.now()); }

AuditEntry GrantEngine::entry(const std::string& actor, std::string action) const {
  AuditEntry e;
  e.time = std::chrono::floor<Ms>(clock_.now());
  e.actor = actor;
  e.action = std::move(action);
  e.outcome = "ok";
  return e;
}

Status GrantEngine::start() {
  auto ts = store_.targets();
  if (!ts) return ts.refusal();
  {
    std::unique_lock lock(mu_);
    for (auto& t : *ts) targets_[t.name] = t;
  }
  auto st = loadIndex();
  if (!st) return st;
  spdlog::info("grant engine: {} targets, {} active grants", ts->size(), activeGrantCount());
  expireDue();  // windows that ended while we were down stay ended
  return okStatus();
}

Status GrantEngine::loadIndex() {
  auto gs = store_.grants(true);
  if (!gs) return gs.refusal();
  std::unique_lock lock(mu_);
  index_ = std::make_unique<Index>();
  lock.unlock();
  for (const auto& g : *gs) indexAdd(g);
  return okStatus();
}

void GrantEngine::indexAdd(const Grant& g) {
  std::unique_lock lock(mu_);
  auto [it, inserted] = index_->byId.emplace(g.id, g);
  if (!inserted) return;
  const Grant& stored = it->second;
  index_->byKey[indexKey(g.user, g.target, g.port)].push_back(
      Index::Window{stored.source, stored.start, stored.end, &stored});
  ++index_->perUserTarget[userTargetKey(g.user, g.target)];
  index_->ends.emplace(g.end, g.id);
}

void GrantEngine::indexRemove(const std::string& grantId) {
  std::unique_lock lock(mu_);
  auto it = index_->byId.find(grantId);
  if (it == index_->byId.end()) return;
  const Grant& g = it->second;
  auto key = indexKey(g.user, g.target, g.port);
  if (auto k = index_->byKey.find(key); k != index_->byKey.end()) {
    std::erase_if(k->second, [&](const Index::Window& w) { return w.grant == &g; });
    if (k->second.empty()) index_->byKey.erase(k);
  }
  auto utk = userTargetKey(g.user, g.target);
  if (auto u = index_->perUserTarget.find(utk); u != index_->perUserTarget.end()) {
    if (--u->second <= 0) index_->perUserTarget.erase(u);
  }
  auto range = index_->ends.equal_range(g.end);
  for (auto e = range.first; e != range.second; ++e) {
    if (e->second == grantId) {
      index_->ends.erase(e);
      break;
    }
  }
  index_->byId.erase(it);
}

size_t GrantEngine::activeGrantCount() const {
  std::shared_lock lock(mu_);
  return index_->byId.size();
}

Decision GrantEngine::decide(const std::string& user, const std::string& target, uint16_t port,
                             const IpAddress& source) const {
  return decide(user, target, port, source, now());
}

Decision GrantEngine::decide(const std::string& user, const std::string& target, uint16_t port,
                             const IpAddress& source, SysTime at) const {
  Decision d;
  std::shared_lock lock(mu_);
  if (!targets_.count(target)) {
    d.reason = DenyReason::UnknownTarget;
    d.message = "no target named '" + target + "'";
    return d;
  }
  thread_local std::string key;
  indexKey(key, user, target, port);
  auto it = index_->byKey.find(key);
  if (it == index_->byKey.end()) {
    if (index_->perUserTarget.count(userTargetKey(user, target))) {
      d.reason = DenyReason::PortNotGranted;
      d.message =
          user + " holds no active grant for port " + std::to_string(port) + " on " + target;
    } else {
      d.reason = DenyReason::NoGrant;
      d.message = user + " holds no active grant on " + target;
    }
    return d;
  }
  const Index::Window* best = nullptr;
  bool sourceMatched = false, early = false;
  for (const auto& w : it->second) {
    if (!w.source.contains(source)) continue;
    sourceMatched = true;
    // The end is exclusive; a window whose end passed is dead even if the
    // timer has not fired yet.
    if (!(w.start <= at && at < w.end)) {
      early = early || at < w.start;
      continue;
    }
    if (!best || w.end > best->end) best = &w;
  }
  if (best) {
    d.allowed = true;
    d.grantId = best->grant->id;
    d.end = best->end;
    return d;
  }
  if (!sourceMatched) {
    d.reason = DenyReason::SourceNotAllowed;
    d.message = "no grant for " + user + " on " + target + " port " + std::to_string(port) +
                " covers source " + source.toString();
  } else if (early) {
    d.reason = DenyReason::NotYetValid;
    d.message = "the grant for " + user + " on " + target + " port " + std::to_string(port) +
                " has not started yet";
  } else {
    d.reason = DenyReason::WindowEnded;
    d.message =
        "the window for " + user + " on " + target + " port " + std::to_string(port) + " has ended";
  }
  return d;
}

Decision GrantEngine::decideAnyUser(const std::string& target, uint16_t port,
                                    const IpAddress& source) const {
  Decision d;
  SysTime at = now();
  std::shared_lock lock(mu_);
  if (!targets_.count(target)) {
    d.reason = DenyReason::UnknownTarget;
    d.message = "no target named '" + target + "'";
    return d;
  }
  for (const auto& [id, g] : index_->byId) {
    if (g.target != target || g.port != port || !g.source.contains(source) || !g.coversTime(at))
      continue;
    d.allowed = true;
    d.grantId = id;
    d.end = g.end;
    return d;
  }
  d.reason = DenyReason::NoGrant;
  d.message = "no active grant on " + target + " port " + std::to_string(port) + " covers source " +
              source.toString();
  return d;
}

std::optional<Target> GrantEngine::findTarget(const std::string& nameOrAddress) const {
  std::shared_lock lock(mu_);
  if (auto it = targets_.find(nameOrAddress); it != targets_.end()) return it->second;
  for (const auto& [name, t] : targets_)
    if (t.address == nameOrAddress) return t;
  return std::nullopt;
}

int GrantEngine::subscribe(Listener l) {
  std::lock_guard lock(listenersMu_);
  int id = nextListener_++;
  listeners_.emplace(id, std::move(l));
  return id;
}

void GrantEngine::unsubscribe(int id) {
  std::lock_guard lock(listenersMu_);
  listeners_.erase(id);
}

void GrantEngine::announce(const Grant& g, WindowEnd why) {
  GrantEnded ev{g, why};
  std::map<int, Listener> ls;
  {
    // Copied: a listener may unsubscribe itself.
    std::lock_guard lock(listenersMu_);
    ls = listeners_;
  }
  for (auto& [id, l] : ls) {
    try {
      l(ev);
    } catch (const std::exception& e) {
      spdlog::error("grant {}: listener {} failed: {}", g.id, id, e.what());
    }
  }
}

// After a commit that revoked grants: out of the index, announced (so that
// sessions are cut), and the timer re-armed.
void GrantEngine::endRevoked(const std::vector<Grant>& revoked) {
  for (const auto& g : revoked) {
    indexRemove(g.id);
    announce(g, WindowEnd::Revoked);
  }
  armTimer();
}

void GrantEngine::armTimer() {
  std::optional<SysTime> first;
  {
    std::shared_lock lock(mu_);
    if (!index_->ends.empty()) first = index_->ends.begin()->first;
  }
  timer_.cancel();
  if (!first) return;
  auto wait = std::chrono::duration_cast<Ms>(*first - clock_.now());
  // Re-evaluate at least every few seconds so that a step of the wall clock
  // (the window end is a UTC instant) is noticed; the deadline itself runs on
  // the steady clock.
  wait = std::clamp(wait, Ms(0), Ms(5000));
  timer_.expires_after(wait);
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) expireDue();
  });
}

void GrantEngine::expireDue() {
  SysTime t = now();
  std::vector<Grant> due;
  {
    std::shared_lock lock(mu_);
    for (auto it = index_->ends.begin(); it != index_->ends.end() && it->first <= t; ++it)
      due.push_back(index_->byId.at(it->second));
  }
  if (due.empty()) return armTimer();
  // One transaction for every window ending now: a thousand grants ending
  // together cost one durable write, not a thousand, before they are announced.
  auto st = store_.transaction([&]() -> Status {
    for (auto& g : due) {
      g.state = GrantState::Expired;
      if (auto s = store_.updateGrant(g); !s) return s;
      auto e = entry("jitgated", "grant.expire");
      e.target = g.target;
      e.port = g.port;
      e.source = g.source.toString();
      e.user = g.user;
      e.grantId = g.id;
      e.requestId = g.requestId;
      e.detail = "window ended at " + formatTimestamp(g.end);
      if (auto r = store_.appendAudit(e); !r) return r.refusal();
    }
    return okStatus();
  });
  if (!st) {
    // The windows are over whatever the store says: the decision already
    // denies them by time. The records are retried at the next start.
    spdlog::error("cannot record the expiry of {} grants: {}", due.size(), st.refusal().describe());
  }
  for (auto& g : due) {
    {
      // A listener of an earlier expiry may have ended this one already.
      std::shared_lock lock(mu_);
      if (!index_->byId.count(g.id)) continue;
    }
    indexRemove(g.id);
    announce(g, WindowEnd::Expired);
  }
  armTimer();
}

// --- Targets ---------------------------------------------------------------

Result<Target> GrantEngine::addTarget(const std::string& actor, Target t) {
  if (auto st = validateName(t.name, "name"); !st) return st.refusal();
  // A name that reads as an address would shadow the target at that address.
  if (IpAddress::parse(t.name) || !validateAddress(t.name, "name"))
    return invalid("name", "a target name must not be an IP address");
  if (auto st = validateAddress(t.address, "address"); !st) return st.refusal();
  if (t.sshPort == 0) return invalid("ssh_port", "must be 1..65535");
  if (t.winrmHttpPort == 0) return invalid("winrm_http_port", "must be 1..65535");
  if (t.winrmHttpsPort == 0) return invalid("winrm_https_port", "must be 1..65535");
  t.createdAt = now();
  auto st = store_.transaction([&]() -> Status {
    auto existing = store_.target(t.name);
    if (!existing) return existing.refusal();
    if (*existing)
      return Refusal{RefusalCode::AlreadyExists, "name", "target '" + t.name + "' already exists"};
    if (auto s = store_.insertTarget(t); !s) return s;
    auto e = entry(actor, "target.add");
    e.target = t.name;
    e.detail = "address " + t.address + ", os " + std::string(toString(t.os)) + ", ssh port " +
               std::to_string(t.sshPort) + ", winrm ports " + std::to_string(t.winrmHttpPort) +
               "/" + std::to_string(t.winrmHttpsPort);
    if (auto r = store_.appendAudit(e); !r) return r.refusal();
    return okStatus();
  });
  if (!st) return st.refusal();
  std::unique_lock lock(mu_);
  targets_[t.name] = t;
  return t;
}

Result<std::vector<Grant>> GrantEngine::revokeWhere(const std::string& actor,
                                                    const std::function<bool(const Grant&)>& pred,
                                                    const std::string& why) {
  std::vector<Grant> hit;
  SysTime t = now();
  {
    std::shared_lock lock(mu_);
    // A window whose end has passed is expiring (the timer records it); it
    // is not revoked after the fact.
    for (const auto& [id, g] : index_->byId)
      if (g.end > t && pred(g)) hit.push_back(g);
  }
  for (auto& g : hit) {
    g.state = GrantState::Revoked;
    g.revokedAt = t;
    g.revokedBy = actor;
    if (auto s = store_.updateGrant(g); !s) return s.refusal();
    auto e = entry(actor, "grant.revoke");
    e.target = g.target;
    e.port = g.port;
    e.source = g.source.toString();
    e.user = g.user;
    e.grantId = g.id;
    e.requestId = g.requestId;
    e.detail = why;
    if (auto r = store_.appendAudit(e); !r) return r.refusal();
  }
  return hit;
}

Status GrantEngine::removeTarget(const std::string& actor, const std::string& name) {
  std::vector<Grant> revoked;
  auto st = store_.transaction([&]() -> Status {
    auto existing = store_.target(name);
    if (!existing) return existing.refusal();
    if (!*existing) return Refusal{RefusalCode::NotFound, "name", "no target named '" + name + "'"};
    auto r = revokeWhere(
        actor, [&](const Grant& g) { return g.target == name; }, "target removed");
    if (!r) return r.refusal();
    revoked = std::move(*r);
    if (auto s = store_.deletePolicy(name); !s) return s;
    if (auto s = store_.deleteTarget(name); !s) return s;
    auto e = entry(actor, "target.remove");
    e.target = name;
    e.detail = std::to_string(revoked.size()) + " active grants revoked";
    if (auto a = store_.appendAudit(e); !a) return a.refusal();
    return okStatus();
  });
  if (!st) return st;
  {
    std::unique_lock lock(mu_);
    targets_.erase(name);
  }
  endRevoked(revoked);
  return okStatus();
}

Result<TargetView> GrantEngine::targetView(const std::string& name) {
  auto t = store_.target(name);
  if (!t) return t.refusal();
  if (!*t) return Refusal{RefusalCode::NotFound, "name", "no target named '" + name + "'"};
  TargetView v;
  v.target = **t;
  auto p = store_.policy(name);
  if (!p) return p.refusal();
  v.policy = *p;
  if (auto why = unsupportedReason(v.target)) {
    v.state = TargetState::Unsupported;
    v.reason = *why;
  } else if (v.policy) {
    v.state = TargetState::Configured;
  } else {
    v.state = TargetState::NotConfigured;
    v.reason =
        "no JIT policy: nobody can be granted access; recommended: jitctl policy enable " + name;
  }
  auto n = store_.countGrantsCreatedSince(name, now() - std::chrono::days(7));
  if (!n) return n.refusal();
  v.approvedLast7Days = *n;
  auto last = store_.lastAudit(name, "session.connect");
  if (!last) return last.refusal();
  if (*last) {
    v.lastAccess = (*last)->time;
    v.lastUser = (*last)->user;
    v.lastSource = (*last)->source;
  }
  return v;
}

Result<std::vector<TargetView>> GrantEngine::targets() {
  auto ts = store_.targets();
  if (!ts) return ts.refusal();
  std::vector<TargetView> out;
  for (const auto& t : *ts) {
    auto v = targetView(t.name);
    if (!v) return v.refusal();
    out.push_back(std::move(*v));
  }
  return out;
}

// --- Policies --------------------------------------------------------------

Result<Policy> GrantEngine::setPolicy(const std::string& actor, Policy p) {
  auto t = store_.target(p.target);
  if (!t) return t.refusal();
  if (!*t) return Refusal{RefusalCode::NotFound, "target", "no target named '" + p.target + "'"};
  if (auto why = unsupportedReason(**t))
    return Refusal{RefusalCode::PolicyViolation, "target",
                   "target '" + p.target + "' is unsupported: " + *why};
  if (p.ports.empty()) {
    Policy asked = p;
    p = defaultPolicy(**t);
    p.requireApproval = asked.requireApproval;
    p.minRequestPrefixV4 = asked.minRequestPrefixV4;
    p.minRequestPrefixV6 = asked.minRequestPrefixV6;
  }
  std::sort(p.ports.begin(), p.ports.end(),
            [](const PortRule& a, const PortRule& b) { return a.number < b.number; });
  if (auto st = validatePolicy(p); !st) return st.refusal();
  p.updatedAt = now();
  p.updatedBy = actor;
  std::vector<Grant> revoked;
  auto st = store_.transaction([&]() -> Status {
    auto before = store_.policy(p.target);
    if (!before) return before.refusal();
    if (auto s = store_.upsertPolicy(p); !s) return s;
    auto e = entry(actor, *before ? "policy.change" : "policy.enable");
    e.target = p.target;
    e.detail = describePolicy(p);
    if (auto a = store_.appendAudit(e); !a) return a.refusal();
    // Grants the new policy would not give lose their footing: their port
    // is gone, their source is no longer allowed, or their window is longer
    // than the new maximum.
    auto r = revokeWhere(
        actor,
        [&](const Grant& g) {
          if (g.target != p.target) return false;
          const PortRule* rule = p.rule(g.port);
          return !rule || !rule->allowsSource(g.source) || g.end - g.start > rule->maxDuration;
        },
        "no longer allowed by the changed policy");
    if (!r) return r.refusal();
    revoked = std::move(*r);
    return okStatus();
  });
  if (!st) return st.refusal();
  endRevoked(revoked);
  return p;
}

Status GrantEngine::disablePolicy(const std::string& actor, const std::string& target) {
  std::vector<Grant> revoked;
  auto st = store_.transaction([&]() -> Status {
    auto before = store_.policy(target);
    if (!before) return before.refusal();
    if (!*before)
      return Refusal{RefusalCode::NotFound, "target",
                     "target '" + target + "' has no JIT policy to disable"};
    auto r = revokeWhere(
        actor, [&](const Grant& g) { return g.target == target; }, "policy disabled");
    if (!r) return r.refusal();
    revoked = std::move(*r);
    if (auto s = store_.deletePolicy(target); !s) return s;
    auto e = entry(actor, "policy.disable");
    e.target = target;
    e.detail = std::to_string(revoked.size()) + " active grants revoked";
    if (auto a = store_.appendAudit(e); !a) return a.refusal();
    return okStatus();
  });
  if (!st) return st;
  endRevoked(revoked);
  return okStatus();
}

Result<std::optional<Policy>> GrantEngine::policy(const std::string& target) {
  return store_.policy(target);
}

Result<std::vector<Policy>> GrantEngine::policies() { return store_.policies(); }

// --- Grants and requests ---------------------------------------------------

Result<std::vector<Grant>> GrantEngine::commitWindows(const std::string& actor,
                                                      std::vector<Grant> windows) {
  for (auto& g : windows) {
    g.id = newId('g');
    if (auto s = store_.insertGrant(g); !s) return s.refusal();
    auto e = entry(actor, "grant.create");
    e.target = g.target;
    e.port = g.port;
    e.source = g.source.toString();
    e.user = g.user;
    e.grantId = g.id;
    e.requestId = g.requestId;
    e.detail = "window " + formatTimestamp(g.start) + " .. " + formatTimestamp(g.end) +
               (g.justification.empty() ? "" : "; justification: " + g.justification);
    if (auto a = store_.appendAudit(e); !a) return a.refusal();
  }
  return windows;
}

Result<Grant> GrantEngine::grant(const std::string& actor, const GrantInput& in) {
  if (auto st = validateName(in.user, "user"); !st) return st.refusal();
  if (auto st = validateText(in.justification, "justification", 512, false); !st)
    return st.refusal();
  auto t = store_.target(in.target);
  if (!t) return t.refusal();
  if (!*t) return Refusal{RefusalCode::NotFound, "target", "no target named '" + in.target + "'"};
  auto p = store_.policy(in.target);
  if (!p) return p.refusal();
  auto plan = planWindows(p->has_value() ? &**p : nullptr, **t, {in.port}, now(), in.allowAnySource,
                          FieldNames::Grant);
  if (!plan) return plan.refusal();
  for (auto& g : *plan) {
    g.user = in.user;
    g.requestedBy = actor;
    g.approvedBy = actor;
    g.justification = in.justification;
  }
  std::vector<Grant> made;
  auto st = store_.transaction([&]() -> Status {
    auto r = commitWindows(actor, std::move(*plan));
    if (!r) return r.refusal();
    made = std::move(*r);
    return okStatus();
  });
  if (!st) return st.refusal();
  for (const auto& g : made) indexAdd(g);
  armTimer();
  return made.front();
}

Result<Grant> GrantEngine::revoke(const std::string& actor, const std::string& grantId) {
  std::vector<Grant> revoked;
  auto st = store_.transaction([&]() -> Status {
    auto g = store_.grant(grantId);
    if (!g) return g.refusal();
    if (!*g) return Refusal{RefusalCode::NotFound, "grant", "no grant with id '" + grantId + "'"};
    if ((*g)->state != GrantState::Active)
      return Refusal{RefusalCode::Conflict, "grant",
                     "grant " + grantId + " is already " + std::string(toString((*g)->state))};
    auto r = revokeWhere(
        actor, [&](const Grant& x) { return x.id == grantId; }, "revoked by " + actor);
    if (!r) return r.refusal();
    revoked = std::move(*r);
    if (revoked.empty())  // active in the store but not in memory: its window is over
      return Refusal{RefusalCode::Conflict, "grant", "grant " + grantId + " has already ended"};
    return okStatus();
  });
  if (!st) return st.refusal();
  endRevoked(revoked);
  return revoked.front();
}

Result<std::vector<Grant>> GrantEngine::grants(bool activeOnly) {
  return store_.grants(activeOnly);
}

Result<std::optional<Grant>> GrantEngine::findGrant(const std::string& id) {
  return store_.grant(id);
}

Result<AccessRequest> GrantEngine::request(const std::string& requester, const RequestInput& in) {
  if (auto st = validateName(requester, "requester"); !st) return st.refusal();
  if (auto st = validateText(in.justification, "justification", 512, true); !st)
    return st.refusal();
  auto t = store_.target(in.target);
  if (!t) return t.refusal();
  if (!*t) return Refusal{RefusalCode::NotFound, "target", "no target named '" + in.target + "'"};
  auto p = store_.policy(in.target);
  if (!p) return p.refusal();
  SysTime at = now();
  auto plan =
      planWindows(p->has_value() ? &**p : nullptr, **t, in.ports, at, false, FieldNames::Request);
  if (!plan) return plan.refusal();

  AccessRequest r;
  r.id = newId('r');
  r.requester = requester;
  r.target = in.target;
  r.ports = in.ports;
  r.justification = in.justification;
  r.createdAt = at;
  bool autoApprove = !(*p)->requireApproval;
  std::vector<Grant> made;
  auto st = store_.transaction([&]() -> Status {
    if (autoApprove) {
      r.state = RequestState::Approved;
      r.decidedBy = "policy";
      r.decidedAt = at;
      for (auto& g : *plan) {
        g.user = requester;
        g.requestedBy = requester;
        g.approvedBy = "policy";
        g.justification = in.justification;
        g.requestId = r.id;
      }
      auto m = commitWindows("jitgated", std::move(*plan));
      if (!m) return m.refusal();
      made = std::move(*m);
      for (const auto& g : made) r.grantIds.push_back(g.id);
    }
    if (auto s = store_.insertRequest(r); !s) return s;
    auto e = entry(requester, "request.create");
    e.target = r.target;
    e.user = requester;
    e.requestId = r.id;
    e.detail = (autoApprove ? "auto-approved within policy; " : "pending approval; ") +
               std::string("justification: ") + r.justification;
    if (auto a = store_.appendAudit(e); !a) return a.refusal();
    return okStatus();
  });
  if (!st) return st.refusal();
  for (const auto& g : made) indexAdd(g);
  if (!made.empty()) armTimer();
  return r;
}

Result<AccessRequest> GrantEngine::approve(const std::string& actor, const std::string& requestId) {
  AccessRequest r;
  std::vector<Grant> made;
  auto st = store_.transaction([&]() -> Status {
    auto found = store_.request(requestId);
    if (!found) return found.refusal();
    if (!*found)
      return Refusal{RefusalCode::NotFound, "request", "no request with id '" + requestId + "'"};
    r = **found;
    if (r.state != RequestState::Pending)
      return Refusal{RefusalCode::Conflict, "request",
                     "request " + requestId + " is already " + std::string(toString(r.state))};
    if (r.requester == actor)
      return Refusal{RefusalCode::Forbidden, "request",
                     "a request cannot be approved by the one who made it"};
    auto t = store_.target(r.target);
    if (!t) return t.refusal();
    if (!*t)
      return Refusal{RefusalCode::Conflict, "request",
                     "target '" + r.target + "' no longer exists"};
    auto p = store_.policy(r.target);
    if (!p) return p.refusal();
    // Checked again against the policy as it is now: it may have changed.
    SysTime at = now();
    auto plan =
        planWindows(p->has_value() ? &**p : nullptr, **t, r.ports, at, false, FieldNames::Request);
    if (!plan) return plan.refusal();
    for (auto& g : *plan) {
      g.user = r.requester;
      g.requestedBy = r.requester;
      g.approvedBy = actor;
      g.justification = r.justification;
      g.requestId = r.id;
    }
    auto m = commitWindows(actor, std::move(*plan));
    if (!m) return m.refusal();
    made = std::move(*m);
    r.state = RequestState::Approved;
    r.decidedBy = actor;
    r.decidedAt = at;
    for (const auto& g : made) r.grantIds.push_back(g.id);
    if (auto s = store_.updateRequest(r); !s) return s;
    auto e = entry(actor, "request.approve");
    e.target = r.target;
    e.user = r.requester;
    e.requestId = r.id;
    if (auto a = store_.appendAudit(e); !a) return a.refusal();
    return okStatus();
  });
  if (!st) return st.refusal();
  for (const auto& g : made) indexAdd(g);
  armTimer();
  return r;
}

Result<AccessRequest> GrantEngine::deny(const std::string& actor, const std::string& requestId,
                                        const std::string& reason) {
  if (auto st = validateText(reason, "reason", 512, false); !st) return st.refusal();
  AccessRequest r;
  auto st = store_.transaction([&]() -> Status {
    auto found = store_.request(requestId);
    if (!found) return found.refusal();
    if (!*found)
      return Refusal{RefusalCode::NotFound, "request", "no request with id '" + requestId + "'"};
    r = **found;
    if (r.state != RequestState::Pending)
      return Refusal{RefusalCode::Conflict, "request",
                     "request " + requestId + " is already " + std::string(toString(r.state))};
    r.state = RequestState::Denied;
    r.decidedBy = actor;
    r.decidedAt = now();
    r.reason = reason;
    if (auto s = store_.updateRequest(r); !s) return s;
    auto e = entry(actor, "request.deny");
    e.target = r.target;
    e.user = r.requester;
    e.requestId = r.id;
    e.detail = reason;
    if (auto a = store_.appendAudit(e); !a) return a.refusal();
    return okStatus();
  });
  if (!st) return st.refusal();
  return r;
}

Result<std::vector<AccessRequest>> GrantEngine::requests() { return store_.requests(); }

// --- Users -----------------------------------------------------------------

Result<User> GrantEngine::addUser(const std::string& actor, User u) {
  if (auto st = validateName(u.name, "name"); !st) return st.refusal();
  if (u.keys.empty()) return invalid("keys", "at least one public key is needed");
  if (u.keys.size() > 32) return invalid("keys", "at most 32 keys per user");
  u.createdAt = now();
  bool existed = false;
  auto st = store_.transaction([&]() -> Status {
    // A key names one person: the same key under two users would let its
    // holder be either of them at the bastion.
    auto all = store_.users();
    if (!all) return all.refusal();
    for (const auto& other : *all) {
      if (other.name == u.name) continue;
      for (const auto& k : u.keys)
        for (const auto& ok : other.keys)
          if (ok.fingerprint == k.fingerprint)
            return Refusal{
                RefusalCode::Conflict, "keys",
                "key " + k.fingerprint + " is already registered to user '" + other.name + "'"};
    }
    auto found = store_.user(u.name);
    if (!found) return found.refusal();
    Status s = okStatus();
    if (*found) {
      // Adding to an existing user appends the keys it does not have yet.
      existed = true;
      User merged = **found;
      for (const auto& k : u.keys) {
        bool dup = std::any_of(merged.keys.begin(), merged.keys.end(), [&](const SshPublicKey& x) {
          return x.fingerprint == k.fingerprint;
        });
        if (!dup) merged.keys.push_back(k);
      }
      if (merged.keys.size() > 32) return invalid("keys", "at most 32 keys per user");
      u = merged;
      s = store_.updateUser(u);
    } else {
      s = store_.insertUser(u);
    }
    if (!s) return s;
    auto e = entry(actor, existed ? "user.add_key" : "user.add");
    e.user = u.name;
    for (const auto& k : u.keys) e.detail += (e.detail.empty() ? "" : ", ") + k.fingerprint;
    if (auto a = store_.appendAudit(e); !a) return a.refusal();
    return okStatus();
  });
  if (!st) return st.refusal();
  return u;
}

Status GrantEngine::removeUser(const std::string& actor, const std::string& name) {
  std::vector<Grant> revoked;
  auto st = store_.transaction([&]() -> Status {
    auto found = store_.user(name);
    if (!found) return found.refusal();
    if (!*found) return Refusal{RefusalCode::NotFound, "name", "no user named '" + name + "'"};
    // Removing a user ends their access, as removing a target does.
    auto r = revokeWhere(
        actor, [&](const Grant& g) { return g.user == name; }, "user removed");
    if (!r) return r.refusal();
    revoked = std::move(*r);
    if (auto s = store_.deleteUser(name); !s) return s;
    auto e = entry(actor, "user.remove");
    e.user = name;
    e.detail = std::to_string(revoked.size()) + " active grants revoked";
    if (auto a = store_.appendAudit(e); !a) return a.refusal();
    return okStatus();
  });
  if (!st) return st;
  endRevoked(revoked);
  return okStatus();
}

Result<std::vector<User>> GrantEngine::users() { return store_.users(); }

// --- Audit -----------------------------------------------------------------

Status GrantEngine::record(AuditEntry e) {
  e.time = std::chrono::floor<Ms>(clock_.now());
  // Entries recorded from outside may carry what a caller sent.
  for (std::string* f :
       {&e.actor, &e.action, &e.target, &e.source, &e.user, &e.grantId, &e.requestId})
    *f = printable(*f, 128);
  e.detail = printable(e.detail, 2048);
  auto r = store_.appendAudit(e);
  if (!r) {
    spdlog::error("audit: cannot record {} by {}: {}", e.action, e.actor, r.refusal().describe());
    return r.refusal();
  }
  return okStatus();
}

Status GrantEngine::record(std::vector<AuditEntry> entries) {
  if (entries.empty()) return okStatus();
  auto t = std::chrono::floor<Ms>(clock_.now());
  auto st = store_.transaction([&]() -> Status {
    for (auto& e : entries) {
      e.time = t;
      for (std::string* f :
           {&e.actor, &e.action, &e.target, &e.source, &e.user, &e.grantId, &e.requestId})
        *f = printable(*f, 128);
      e.detail = printable(e.detail, 2048);
      if (auto r = store_.appendAudit(e); !r) return r.refusal();
    }
    return okStatus();
  });
  if (!st)
    spdlog::error("audit: cannot record {} entries: {}", entries.size(), st.refusal().describe());
  return st;
}

Result<std::vector<AuditEntry>> GrantEngine::audit(const AuditQuery& q) { return store_.audit(q); }

}  // namespace jitgate
