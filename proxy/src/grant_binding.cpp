// A session held open by its covering grant (see grant_binding.hpp).
#include "grant_binding.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>

namespace jitgate {

namespace {

using Steady = std::chrono::steady_clock;

// Timers run on the monotonic clock; a grant's end is a wall-clock instant,
// measured against the engine's clock as it is (not rounded to the second).
Steady::time_point steadyAt(SysTime at, const Clock& clock) {
  return Steady::now() + std::chrono::duration_cast<Steady::duration>(at - clock.now());
}

}  // namespace

GrantBinding::GrantBinding(boost::asio::io_context& io, GrantEngine& engine,
                           SessionRegistry& registry)
    : engine_(engine), registry_(registry), deadline_(io), warning_(io) {}

GrantBinding::~GrantBinding() { unbind(); }

void GrantBinding::bind(SessionRecord record, const IpAddress& source, const Decision& d,
                        std::chrono::seconds warnBefore, Events events) {
  unbind();
  record_ = std::move(record);
  record_.grantId = d.grantId;
  source_ = source;
  end_ = d.end;
  warnBefore_ = warnBefore;
  events_ = std::move(events);
  active_ = true;
  self_ = std::make_shared<GrantBinding*>(this);
  std::weak_ptr<GrantBinding*> weak = self_;
  regId_ = registry_.add(
      d.grantId,
      [weak](const GrantEnded& ev) {
        if (auto self = weak.lock()) (*self)->recheck(endReasonFor(ev.why));
      },
      &record_,
      // Asked from the control socket: the session ends on the next turn of
      // the loop, not inside the control API's call.
      [weak, ex = deadline_.get_executor()](const std::string& note) {
        boost::asio::post(ex, [weak, note] {
          auto self = weak.lock();
          if (!self || !(*self)->active_) return;
          (*self)->killed(note);
        });
      });
  arm();
}

void GrantBinding::moveTo(const Decision& d) {
  if (!active_ || !d.allowed) return;
  if (d.grantId != record_.grantId) {
    spdlog::info("{}: session of {} on {} now held by grant {}", record_.front, record_.user,
                 record_.target, d.grantId);
    record_.grantId = d.grantId;
    registry_.rebind(regId_, d.grantId);
  }
  end_ = d.end;
  arm();
}

void GrantBinding::unbind() {
  if (!active_) return;
  active_ = false;
  self_.reset();
  deadline_.cancel();
  warning_.cancel();
  registry_.remove(regId_);
}

void GrantBinding::arm() {
  std::weak_ptr<GrantBinding*> weak = self_;
  const Clock& clock = engine_.clock();
  deadline_.expires_at(steadyAt(end_, clock));
  deadline_.async_wait([weak](const boost::system::error_code& ec) {
    if (auto self = weak.lock(); self && !ec) (*self)->recheck(EndReason::Expired);
  });
  warning_.cancel();
  auto warnAt = end_ - warnBefore_;
  if (!events_.warn || warnBefore_.count() <= 0 || warnAt <= clock.now()) return;
  warning_.expires_at(steadyAt(warnAt, clock));
  warning_.async_wait([weak](const boost::system::error_code& ec) {
    auto self = weak.lock();
    if (!self || ec || !(*self)->active_) return;
    (*self)->events_.warn((*self)->end_);
  });
}

void GrantBinding::killed(const std::string& note) {
  record_.endNote = note;
  deadline_.cancel();
  warning_.cancel();
  if (events_.ended) {
    auto ended = events_.ended;
    ended(EndReason::Killed, engine_.now());
  }
}

void GrantBinding::recheck(EndReason why) {
  if (!active_) return;
  auto d = engine_.decide(record_.user, record_.target, record_.port, source_);
  if (d.allowed) return moveTo(d);
  SysTime at = why == EndReason::Expired ? end_ : engine_.now();
  deadline_.cancel();
  warning_.cancel();
  // Last: the owner ends the session, and may destroy this binding with it.
  if (events_.ended) {
    auto ended = events_.ended;
    ended(why, at);
  }
}

}  // namespace jitgate
