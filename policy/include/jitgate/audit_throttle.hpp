// Audit entries for refusals anyone can provoke at any rate (before
// authentication, connection limits): at most a burst a second are written one
// by one, the rest are counted and written as one summary once the flood has
// been quiet for a second (or a minute after counting began, whichever comes
// first), so a flood costs a bounded number of durable writes and none is lost.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "jitgate/model.hpp"

namespace boost::asio {
class io_context;
}

namespace jitgate {

// The counting, apart from any clock or loop (unit-tested).
class AuditThrottle {
 public:
  using Clock = std::chrono::steady_clock;
  // `what` names the refusals in the summary ("pre-authentication refusals").
  AuditThrottle(std::string what, int perSecond);

  // The entry to write now, or nothing when it was counted instead.
  std::optional<AuditEntry> pass(AuditEntry e, Clock::time_point now);
  // One entry saying how many were counted, by action and reason, since the
  // last summary; nothing when none were.
  std::optional<AuditEntry> summary();
  int counted() const { return counted_; }
  // When the summary is due: a second after the last counted entry, at most
  // a minute after the first.
  Clock::time_point summaryDue() const;

 private:
  std::string what_;
  int perSecond_;
  Clock::time_point second_{};
  int written_ = 0;
  int counted_ = 0;
  Clock::time_point firstCounted_{}, lastCounted_{};
  std::map<std::string, int> byReason_;  // "action reason" -> count
  std::map<std::string, int> bySource_;  // source address -> count
  std::string action_;                   // the action of the first counted entry
};

// The throttle on a loop: writes through `record`, and the summary when due.
class ThrottledAudit {
 public:
  ThrottledAudit(boost::asio::io_context& io, std::string what, int perSecond,
                 std::function<void(AuditEntry)> record);
  ~ThrottledAudit();
  ThrottledAudit(const ThrottledAudit&) = delete;
  ThrottledAudit& operator=(const ThrottledAudit&) = delete;

  void record(AuditEntry e);
  // Writes what is counted now (its owner's stop(): the destructor does not).
  void flush();

 private:
  struct Timer;
  void arm();
  AuditThrottle throttle_;
  std::function<void(AuditEntry)> record_;
  std::shared_ptr<Timer> timer_;  // only this holds it: its handler checks it lives
};

}  // namespace jitgate
