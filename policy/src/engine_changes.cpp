// The grant engine's changes: targets, policies, grants, requests and users,
// each validated, committed with its audit entry in one transaction, then
// reflected in the index (and announced when it ends windows).
#include <openssl/rand.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "jitgate/engine.hpp"

namespace jitgate {
namespace {

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

Refusal noTarget(const std::string& name) {
  return Refusal{RefusalCode::NotFound, "target", "no target named '" + name + "'"};
}

struct Plan {
  std::optional<Policy> policy;
  std::vector<Grant> windows;
};

// The windows `ports` would have on `target` under its policy as it is now;
// `gone` when there is no such target.
Result<Plan> planOn(Store& store, const std::string& target, const Refusal& gone,
                    const std::vector<RequestedPort>& ports, SysTime at, bool anySourceAllowed,
                    FieldNames names) {
  auto t = store.target(target);
  if (!t) return t.refusal();
  if (!*t) return gone;
  auto p = store.policy(target);
  if (!p) return p.refusal();
  auto windows =
      planWindows(p->has_value() ? &**p : nullptr, **t, ports, at, anySourceAllowed, names);
  if (!windows) return windows.refusal();
  return Plan{std::move(*p), std::move(*windows)};
}

// A grant or request the store holds in the state a change needs (active,
// pending), or why it is not.
template <class T, class State>
Result<T> inState(Result<std::optional<T>> found, const char* kind, const std::string& id,
                  State needed) {
  if (!found) return found.refusal();
  if (!*found)
    return Refusal{RefusalCode::NotFound, kind,
                   std::string("no ") + kind + " with id '" + id + "'"};
  if ((*found)->state != needed)
    return Refusal{RefusalCode::Conflict, kind,
                   kind + (" " + id) + " is already " + std::string(toString((*found)->state))};
  return std::move(**found);
}

// Records the decision on `r` by the actor of `e`, and `e` naming it.
Status recordDecision(Store& store, AccessRequest& r, RequestState state, SysTime at,
                      AuditEntry e) {
  r.state = state;
  r.decidedBy = e.actor;
  r.decidedAt = at;
  if (auto s = store.updateRequest(r); !s) return s;
  e.target = r.target;
  e.user = r.requester;
  e.requestId = r.id;
  if (auto a = store.appendAudit(e); !a) return a.refusal();
  return okStatus();
}

// Whether a store lookup found its object.
template <class T>
Result<bool> present(const Result<std::optional<T>>& found) {
  if (!found) return found.refusal();
  return found->has_value();
}

}  // namespace

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

Status GrantEngine::endWithGrants(const std::string& actor, const std::string& name,
                                  const Ending& end, const std::function<Result<bool>()>& exists,
                                  const std::function<Status()>& remove) {
  std::vector<Grant> revoked;
  auto st = store_.transaction([&]() -> Status {
    auto found = exists();
    if (!found) return found.refusal();
    if (!*found) return end.missing;
    auto r = revokeWhere(
        actor, [&](const Grant& g) { return g.*end.grantField == name; }, end.why);
    if (!r) return r.refusal();
    revoked = std::move(*r);
    if (auto s = remove(); !s) return s;
    auto e = entry(actor, end.action);
    e.*end.auditField = name;
    e.detail = std::to_string(revoked.size()) + " active grants revoked";
    if (auto a = store_.appendAudit(e); !a) return a.refusal();
    return okStatus();
  });
  if (!st) return st;
  if (end.afterCommit) end.afterCommit();
  endRevoked(revoked);
  return okStatus();
}

Status GrantEngine::removeTarget(const std::string& actor, const std::string& name) {
  Ending end{"target.remove", &AuditEntry::target, &Grant::target, "target removed"};
  end.missing = Refusal{RefusalCode::NotFound, "name", "no target named '" + name + "'"};
  end.afterCommit = [&] {
    std::unique_lock lock(mu_);
    targets_.erase(name);
  };
  return endWithGrants(
      actor, name, end, [&] { return present(store_.target(name)); },
      [&]() -> Status {
        if (auto s = store_.deletePolicy(name); !s) return s;
        return store_.deleteTarget(name);
      });
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
  v.sharesAddressWith = sharingAddress(v.target);
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
  Ending end{"policy.disable", &AuditEntry::target, &Grant::target, "policy disabled"};
  end.missing = Refusal{RefusalCode::NotFound, "target",
                        "target '" + target + "' has no JIT policy to disable"};
  return endWithGrants(
      actor, target, end, [&] { return present(store_.policy(target)); },
      [&] { return store_.deletePolicy(target); });
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
    auto e = grantEntry(actor, "grant.create", g);
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
  auto planned = planOn(store_, in.target, noTarget(in.target), {in.port}, now(), in.allowAnySource,
                        FieldNames::Grant);
  if (!planned) return planned.refusal();
  auto& plan = planned->windows;
  for (auto& g : plan) {
    g.user = in.user;
    g.requestedBy = actor;
    g.approvedBy = actor;
    g.justification = in.justification;
  }
  std::vector<Grant> made;
  auto st = store_.transaction([&]() -> Status {
    auto r = commitWindows(actor, std::move(plan));
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
    auto g = inState(store_.grant(grantId), "grant", grantId, GrantState::Active);
    if (!g) return g.refusal();
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

Result<Grant> GrantEngine::extend(const std::string& actor, const std::string& grantId, Seconds by,
                                  bool byAdmin) {
  if (by <= Seconds(0)) return invalid("duration", "must be greater than zero");
  if (by > kMaxMaxDuration)
    return invalid("duration", formatDurationIso(by) + " is longer than any policy's maximum");
  SysTime at = now();
  Grant g;
  auto st = store_.transaction([&]() -> Status {
    auto found = inState(store_.grant(grantId), "grant", grantId, GrantState::Active);
    if (!found) return found.refusal();
    g = std::move(*found);
    if (g.end <= at)
      return Refusal{RefusalCode::Conflict, "grant", "grant " + grantId + " has already ended"};
    RequestedPort asked;
    asked.number = g.port;
    asked.source = g.source;
    asked.endTime = g.end + by;
    // The same rules as a new window: policy present, port configured,
    // source inside the allowed prefixes, and no longer than the maximum
    // counted from now.
    auto planned =
        planOn(store_, g.target, noTarget(g.target), {asked}, at, true, FieldNames::Grant);
    if (!planned) {
      Refusal r = planned.refusal();
      if (r.field == "endTimeUtc") r.field = "duration";
      return r;
    }
    if (planned->policy->requireApproval && !byAdmin)
      return Refusal{RefusalCode::PolicyViolation, "grant",
                     "the policy of '" + g.target +
                         "' requires approval: ask for a new window (request) instead"};
    SysTime oldEnd = g.end;
    g.end = *asked.endTime;
    if (auto s = store_.updateGrant(g); !s) return s;
    auto e = grantEntry(actor, "grant.extend", g);
    e.detail = "end " + formatTimestamp(oldEnd) + " -> " + formatTimestamp(g.end);
    if (auto a = store_.appendAudit(e); !a) return a.refusal();
    return okStatus();
  });
  if (!st) return st.refusal();
  indexRemove(g.id);
  indexAdd(g);
  armTimer();
  return g;
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
  SysTime at = now();
  auto planned =
      planOn(store_, in.target, noTarget(in.target), in.ports, at, false, FieldNames::Request);
  if (!planned) return planned.refusal();
  auto& plan = planned->windows;

  AccessRequest r;
  r.id = newId('r');
  r.requester = requester;
  r.target = in.target;
  r.ports = in.ports;
  r.justification = in.justification;
  r.createdAt = at;
  bool autoApprove = !planned->policy->requireApproval;
  std::vector<Grant> made;
  auto st = store_.transaction([&]() -> Status {
    if (autoApprove) {
      r.state = RequestState::Approved;
      r.decidedBy = "policy";
      r.decidedAt = at;
      for (auto& g : plan) {
        g.user = requester;
        g.requestedBy = requester;
        g.approvedBy = "policy";
        g.justification = in.justification;
        g.requestId = r.id;
      }
      auto m = commitWindows("jitgated", std::move(plan));
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
    auto pending = inState(store_.request(requestId), "request", requestId, RequestState::Pending);
    if (!pending) return pending.refusal();
    r = std::move(*pending);
    if (r.requester == actor)
      return Refusal{RefusalCode::Forbidden, "request",
                     "a request cannot be approved by the one who made it"};
    // Checked again against the policy as it is now: it may have changed.
    SysTime at = now();
    auto planned = planOn(
        store_, r.target,
        Refusal{RefusalCode::Conflict, "request", "target '" + r.target + "' no longer exists"},
        r.ports, at, false, FieldNames::Request);
    if (!planned) return planned.refusal();
    auto& plan = planned->windows;
    for (auto& g : plan) {
      g.user = r.requester;
      g.requestedBy = r.requester;
      g.approvedBy = actor;
      g.justification = r.justification;
      g.requestId = r.id;
    }
    auto m = commitWindows(actor, std::move(plan));
    if (!m) return m.refusal();
    made = std::move(*m);
    for (const auto& g : made) r.grantIds.push_back(g.id);
    return recordDecision(store_, r, RequestState::Approved, at, entry(actor, "request.approve"));
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
    auto pending = inState(store_.request(requestId), "request", requestId, RequestState::Pending);
    if (!pending) return pending.refusal();
    r = std::move(*pending);
    r.reason = reason;
    auto e = entry(actor, "request.deny");
    e.detail = reason;
    return recordDecision(store_, r, RequestState::Denied, now(), std::move(e));
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
  // Removing a user ends their access, as removing a target does.
  Ending end{"user.remove", &AuditEntry::user, &Grant::user, "user removed"};
  end.missing = Refusal{RefusalCode::NotFound, "name", "no user named '" + name + "'"};
  return endWithGrants(
      actor, name, end, [&] { return present(store_.user(name)); },
      [&] { return store_.deleteUser(name); });
}

Result<std::vector<User>> GrantEngine::users() { return store_.users(); }

}  // namespace jitgate
