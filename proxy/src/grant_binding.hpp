// A live session held open by the grant that covers it, for both fronts: the
// registry entry that brings revokes and expiries, a timer at the grant's
// exact end on the engine's clock, a warning before it, and at each of those
// the engine asked again, so that the session moves to another covering
// grant or ends.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "jitgate/engine.hpp"
#include "jitgate/net.hpp"
#include "jitgate/proxy/session_registry.hpp"

namespace jitgate {

class GrantBinding {
 public:
  struct Events {
    // `warnBefore` ahead of the end (not armed when empty or already past).
    std::function<void(SysTime end)> warn;
    // No grant covers the session any more: `why` Expired or Revoked, `at`
    // when it ended (the grant's end for an expiry, now for a revoke). The
    // owner ends the session and unbinds (writing its disconnect record).
    std::function<void(EndReason why, SysTime at)> ended;
  };

  GrantBinding(boost::asio::io_context& io, GrantEngine& engine, SessionRegistry& registry);
  ~GrantBinding();
  GrantBinding(const GrantBinding&) = delete;
  GrantBinding& operator=(const GrantBinding&) = delete;

  // Holds the session whose audit record is `record` (user, target, port)
  // from `source` under `d`'s grant (d.allowed). Events run on the io thread,
  // never from inside bind() or a call of the owner's.
  void bind(SessionRecord record, const IpAddress& source, const Decision& d,
            std::chrono::seconds warnBefore, Events events);
  // A decision the owner asked for itself (a new request on the connection):
  // the session follows its grant if it is another.
  void moveTo(const Decision& d);
  // Deregisters and disarms; no event follows.
  void unbind();

  bool active() const { return active_; }
  const SessionRecord& record() const { return record_; }
  SessionRecord& record() { return record_; }
  const std::string& grantId() const { return record_.grantId; }
  SysTime end() const { return end_; }
  // When the end-of-grant timer is due, on the monotonic clock.
  std::chrono::steady_clock::time_point deadline() const { return deadline_.expiry(); }

 private:
  void arm();
  // The grant ended (registry) or its end came (timer): another grant may
  // still cover the session.
  void recheck(EndReason why);
  void killed(const std::string& note);

  GrantEngine& engine_;
  SessionRegistry& registry_;
  boost::asio::steady_timer deadline_;
  boost::asio::steady_timer warning_;
  SessionRecord record_;
  IpAddress source_;
  SysTime end_{};
  std::chrono::seconds warnBefore_{0};
  Events events_;
  SessionRegistry::Id regId_ = 0;
  bool active_ = false;
  // Handlers already queued when the binding goes away find this expired.
  std::shared_ptr<GrantBinding*> self_;
};

}  // namespace jitgate
