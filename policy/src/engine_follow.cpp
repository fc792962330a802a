// The grant engine on a store shared by several nodes: failing closed while
// the store cannot be reached, and audit entries held until it is back
// (StoreFollower drives these; applying others' changes, which touches the
// index, is in engine.cpp).
#include <spdlog/spdlog.h>

#include "jitgate/engine.hpp"

namespace jitgate {

namespace {
constexpr size_t kHeldAuditLimit = 10000;
}

void GrantEngine::setStoreReachable(bool reachable) {
  storeReachable_.store(reachable, std::memory_order_relaxed);
}

bool GrantEngine::storeReachable() const { return storeReachable_.load(std::memory_order_relaxed); }

void GrantEngine::holdAudit(std::vector<AuditEntry> entries) {
  std::lock_guard lock(heldMu_);
  for (auto& e : entries) {
    if (held_.size() >= kHeldAuditLimit) {
      ++heldDropped_;
      continue;
    }
    held_.push_back(std::move(e));
  }
}

size_t GrantEngine::heldAuditCount() const {
  std::lock_guard lock(heldMu_);
  return held_.size();
}

void GrantEngine::flushHeldAudit() {
  std::vector<AuditEntry> entries;
  size_t dropped = 0;
  {
    std::lock_guard lock(heldMu_);
    entries.swap(held_);
    std::swap(dropped, heldDropped_);
  }
  if (dropped > 0) {
    AuditEntry e = entry("jitgated", "audit.dropped");
    e.outcome = "error";
    e.detail = std::to_string(dropped) + " entries made while the store was unreachable were " +
               "dropped (more than " + std::to_string(kHeldAuditLimit) + " held)";
    entries.push_back(std::move(e));
  }
  if (entries.empty()) return;
  // Their own times, from when they happened.
  auto st = store_.transaction([&]() -> Status {
    for (const auto& e : entries)
      if (auto r = store_.appendAudit(e); !r) return r.refusal();
    return okStatus();
  });
  if (!st) {
    spdlog::warn("audit: {} held entries not written yet: {}", entries.size(),
                 st.refusal().describe());
    holdAudit(std::move(entries));
    return;
  }
  spdlog::info("audit: wrote {} entries held while the store was unreachable", entries.size());
}

}  // namespace jitgate
