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
    bool approval = p.requireApproval;
    p = defaultPolicy(**t);
    p.requireApproval = approval;
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

}  // namespace jitgate
