// Rate-limited audit of refusals anyone can provoke: see audit_throttle.hpp.
#include "jitgate/audit_throttle.hpp"

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <vector>

namespace jitgate {

namespace {
// What a refusal entry is counted under: its detail up to the message
// ("front=winrm reason=no_grant"), bounded.
std::string reasonKey(const AuditEntry& e) {
  std::string key = e.detail.substr(0, e.detail.find(": "));
  if (key.size() > 64) key.resize(64);
  return e.action + " " + key;
}

// The `n` largest counts of `m`, as "key count, key count".
std::string largest(const std::map<std::string, int>& m, size_t n) {
  std::vector<std::pair<std::string, int>> v(m.begin(), m.end());
  std::stable_sort(v.begin(), v.end(), [](auto& a, auto& b) { return a.second > b.second; });
  std::string out;
  for (size_t i = 0; i < v.size() && i < n; ++i) {
    if (!out.empty()) out += ", ";
    out += v[i].first + " " + std::to_string(v[i].second);
  }
  if (v.size() > n) out += ", and " + std::to_string(v.size() - n) + " more";
  return out;
}
}  // namespace

AuditThrottle::AuditThrottle(std::string what, int perSecond)
    : what_(std::move(what)), perSecond_(perSecond) {}

std::optional<AuditEntry> AuditThrottle::pass(AuditEntry e, Clock::time_point now) {
  if (now - second_ >= std::chrono::seconds(1)) {
    second_ = now;
    written_ = 0;
  }
  if (written_ < perSecond_) {
    ++written_;
    return e;
  }
  if (counted_ == 0) {
    action_ = e.action;
    firstCounted_ = now;
  }
  lastCounted_ = now;
  ++counted_;
  ++byReason_[reasonKey(e)];
  ++bySource_[e.source.empty() ? "-" : e.source];
  return std::nullopt;
}

AuditThrottle::Clock::time_point AuditThrottle::summaryDue() const {
  return std::min(lastCounted_ + std::chrono::seconds(1), firstCounted_ + std::chrono::minutes(1));
}

std::optional<AuditEntry> AuditThrottle::summary() {
  if (counted_ == 0) return std::nullopt;
  AuditEntry e;
  e.actor = "jitgated";
  e.action = action_;
  e.outcome = "denied";
  e.detail = std::to_string(counted_) + " " + what_ + " not recorded one by one (more than " +
             std::to_string(perSecond_) + " a second): " + largest(byReason_, 8) + "; from " +
             largest(bySource_, 5);
  counted_ = 0;
  byReason_.clear();
  bySource_.clear();
  return e;
}

struct ThrottledAudit::Timer {
  explicit Timer(boost::asio::io_context& io) : timer(io) {}
  boost::asio::steady_timer timer;
  bool armed = false;
};

ThrottledAudit::ThrottledAudit(boost::asio::io_context& io, std::string what, int perSecond,
                               std::function<void(AuditEntry)> record)
    : throttle_(std::move(what), perSecond),
      record_(std::move(record)),
      timer_(std::make_shared<Timer>(io)) {}

// Nothing is written here: what is still counted is its owner's to flush
// while what it writes to still lives (a front's stop()).
ThrottledAudit::~ThrottledAudit() { timer_->timer.cancel(); }

void ThrottledAudit::record(AuditEntry e) {
  if (auto now = throttle_.pass(std::move(e), AuditThrottle::Clock::now())) {
    record_(std::move(*now));
    return;
  }
  if (!timer_->armed) arm();
}

void ThrottledAudit::arm() {
  timer_->armed = true;
  timer_->timer.expires_at(throttle_.summaryDue());
  // The timer is this object's alone: while it lives, so does `this`.
  timer_->timer.async_wait(
      [this, alive = std::weak_ptr<Timer>(timer_)](const boost::system::error_code& ec) {
        if (ec || alive.expired()) return;
        timer_->armed = false;
        if (throttle_.counted() == 0) return;
        if (AuditThrottle::Clock::now() < throttle_.summaryDue()) return arm();
        flush();
      });
}

void ThrottledAudit::flush() {
  if (auto s = throttle_.summary()) record_(std::move(*s));
}

}  // namespace jitgate
