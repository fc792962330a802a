// Reload planning: a key-by-key comparison of the effective settings.
#include "jitgate/service/reload.hpp"

#include "jitgate/service/effective_config.hpp"

namespace jitgate {
namespace {

bool liveKey(const std::string& key) {
  return key == "log_level" || key.rfind("roles.", 0) == 0 || key.rfind("control.", 0) == 0;
}

std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

}  // namespace

std::string ReloadPlan::describe() const {
  if (!changed()) return "no change";
  std::string out;
  if (!applied.empty()) out = "applied " + joined(applied);
  if (!needRestart.empty())
    out += (out.empty() ? "" : "; ") + std::string("needs a restart: ") + joined(needRestart);
  return out;
}

ReloadPlan planReload(const DaemonConfig& running, const DaemonConfig& reread) {
  ReloadPlan plan;
  plan.next = running;
  auto before = effectiveSettings(running);
  auto after = effectiveSettings(reread);
  for (size_t i = 0; i < before.size() && i < after.size(); ++i) {
    if (before[i].value == after[i].value) continue;
    (liveKey(before[i].key) ? plan.applied : plan.needRestart).push_back(before[i].key);
  }
  if (!plan.applied.empty()) {
    plan.next.roles = reread.roles;
    plan.next.logLevel = reread.logLevel;
    plan.next.control = reread.control;
  }
  return plan;
}

}  // namespace jitgate
