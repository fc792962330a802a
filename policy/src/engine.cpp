// The grant engine's core: the index of active grants, the fronts'
// decisions, the end-of-window timer and announcements, and the audit.
// The changes (targets, policies, grants, requests, users) are in
// engine_changes.cpp.
#include "jitgate/engine.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace jitgate {
namespace {

using Ms = std::chrono::milliseconds;

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

}  // namespace

std::string_view toString(WindowEnd e) {
  switch (e) {
    case WindowEnd::Expired:
      return "expired";
    case WindowEnd::Revoked:
      return "revoked";
    case WindowEnd::StoreUnavailable:
      return "store_unavailable";
  }
  return "ended";
}

namespace {
Decision storeUnavailable() {
  Decision d;
  d.reason = SessionRefusal::StoreUnavailable;
  d.message = "store_unavailable: the store cannot be reached; nothing new passes until it is back";
  return d;
}
}  // namespace

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

AuditEntry GrantEngine::grantEntry(const std::string& actor, std::string action,
                                   const Grant& g) const {
  auto e = entry(actor, std::move(action));
  e.target = g.target;
  e.port = g.port;
  e.source = g.source.toString();
  e.user = g.user;
  e.grantId = g.id;
  e.requestId = g.requestId;
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
  if (!decisionObserver_) return decide(user, target, port, source, now());
  auto started = std::chrono::steady_clock::now();
  auto d = decide(user, target, port, source, now());
  decisionObserver_(d, std::chrono::steady_clock::now() - started);
  return d;
}

Decision GrantEngine::decide(const std::string& user, const std::string& target, uint16_t port,
                             const IpAddress& source, SysTime at) const {
  if (!storeReachable()) return storeUnavailable();
  Decision d;
  std::shared_lock lock(mu_);
  if (!targets_.count(target)) {
    d.reason = SessionRefusal::UnknownTarget;
    d.message = "no target named '" + target + "'";
    return d;
  }
  thread_local std::string key;
  indexKey(key, user, target, port);
  auto it = index_->byKey.find(key);
  if (it == index_->byKey.end()) {
    if (index_->perUserTarget.count(userTargetKey(user, target))) {
      d.reason = SessionRefusal::PortNotGranted;
      d.message =
          user + " holds no active grant for port " + std::to_string(port) + " on " + target;
    } else {
      d.reason = SessionRefusal::NoGrant;
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
    d.reason = SessionRefusal::SourceNotAllowed;
    d.message = "no grant for " + user + " on " + target + " port " + std::to_string(port) +
                " covers source " + source.toString();
  } else if (early) {
    d.reason = SessionRefusal::NotYetValid;
    d.message = "the grant for " + user + " on " + target + " port " + std::to_string(port) +
                " has not started yet";
  } else {
    d.reason = SessionRefusal::WindowEnded;
    d.message =
        "the window for " + user + " on " + target + " port " + std::to_string(port) + " has ended";
  }
  return d;
}

Decision GrantEngine::decideAnyUser(const std::string& target, uint16_t port,
                                    const IpAddress& source) const {
  if (!storeReachable()) return storeUnavailable();
  Decision d;
  SysTime at = now();
  std::shared_lock lock(mu_);
  if (!targets_.count(target)) {
    d.reason = SessionRefusal::UnknownTarget;
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
  d.reason = SessionRefusal::NoGrant;
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
    auto e = grantEntry(actor, "grant.revoke", g);
    e.detail = why;
    if (auto r = store_.appendAudit(e); !r) return r.refusal();
  }
  return hit;
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
      if (auto s = store_.updateGrant(g); !s) {
        // Another node recorded this end (expiry or revoke) first: once is enough.
        if (s.refusal().code == RefusalCode::Conflict) continue;
        return s;
      }
      auto e = grantEntry("jitgated", "grant.expire", g);
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

// --- Changes other nodes committed (StoreFollower) -------------------------

Status GrantEngine::applyChange(const StoreChange& c) {
  if (c.kind == "grant") {
    auto g = store_.grant(c.key);
    if (!g) return g.refusal();
    std::optional<Grant> indexed;
    {
      std::shared_lock lock(mu_);
      if (auto it = index_->byId.find(c.key); it != index_->byId.end()) indexed = it->second;
    }
    if (*g && (*g)->state == GrantState::Active) {
      if (!indexed || indexed->end != (*g)->end) {  // new here, or extended
        if (indexed) indexRemove(c.key);
        indexAdd(**g);
        armTimer();
      }
      return okStatus();
    }
    if (indexed) {
      // Ended on another node: cut what runs under it here.
      Grant ended = *g ? **g : *indexed;
      indexRemove(c.key);
      announce(ended, ended.state == GrantState::Expired ? WindowEnd::Expired : WindowEnd::Revoked);
      armTimer();
    }
    return okStatus();
  }
  if (c.kind == "target") {
    auto t = store_.target(c.key);
    if (!t) return t.refusal();
    std::unique_lock lock(mu_);
    if (*t) {
      targets_[c.key] = **t;
    } else {
      targets_.erase(c.key);
    }
    return okStatus();
  }
  // Policies, requests, users and CA records are read from the store when
  // asked; nothing of them is held here.
  return okStatus();
}

void GrantEngine::endSessionsForStore() {
  std::vector<Grant> live;
  {
    std::shared_lock lock(mu_);
    for (const auto& [id, g] : index_->byId) live.push_back(g);
  }
  // The grants stay active in the store; the sessions under them re-ask
  // decide(), which refuses while the store is unreachable.
  for (const auto& g : live) announce(g, WindowEnd::StoreUnavailable);
}

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
    if (r.refusal().code == RefusalCode::StoreUnavailable) holdAudit({std::move(e)});
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
  if (!st) {
    spdlog::error("audit: cannot record {} entries: {}", entries.size(), st.refusal().describe());
    if (st.refusal().code == RefusalCode::StoreUnavailable) holdAudit(std::move(entries));
  }
  return st;
}

Result<std::vector<AuditEntry>> GrantEngine::audit(const AuditQuery& q) { return store_.audit(q); }

}  // namespace jitgate
