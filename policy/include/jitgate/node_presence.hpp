// This node in the store's nodes registry: it registers itself, heartbeats on
// the event loop's monotonic timer, and marks lost a node that fell silent,
// recording the sessions it left open as ended (reason node_lost). On SQLite
// it just lists itself (docs/SCALE_OUT.md).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "jitgate/clock.hpp"
#include "jitgate/store.hpp"

namespace jitgate {

struct NodeOptions {
  std::string name;                    // [node] name (default: the host name)
  std::vector<std::string> addresses;  // "ssh 0.0.0.0:2222", "winrm-http ...", "control /run/..."
  std::string version;
  std::chrono::milliseconds heartbeat{5000};  // at most a third of lost_after
  std::chrono::milliseconds lostAfter{30000};
};

// The heartbeat period for `lostAfter`: a third of it, at most 5 s, at least 100 ms.
std::chrono::milliseconds heartbeatFor(std::chrono::milliseconds lostAfter);

// Runs on the engine's io_context; every store call is on that thread.
class NodePresence {
 public:
  NodePresence(boost::asio::io_context& io, Store& store, const Clock& clock, NodeOptions options);
  ~NodePresence();
  NodePresence(const NodePresence&) = delete;
  NodePresence& operator=(const NodePresence&) = delete;

  // Records the sessions this node's previous run left open as ended
  // (node_lost: the process that held them is gone), registers the node
  // (up, rejoining if it was lost) and starts heartbeating and watching.
  // Call before the fronts take connections.
  Status start();
  void stop();

  // One heartbeat and one look at the others (the timer calls this; tests
  // call it directly). A node is lost once its heartbeat has not moved for
  // lost_after of this node's monotonic clock while the store answered.
  void tick();

 private:
  void arm();
  AuditEntry entry(std::string action) const;
  // Marks `n` lost and ends its open sessions, in one transaction.
  void markLost(const NodeRecord& n);
  // The session.disconnect entries closing `open` (node `of`'s), reason node_lost.
  std::vector<AuditEntry> endSessions(const std::vector<AuditEntry>& open, const std::string& of,
                                      const std::string& why) const;

  Store& store_;
  const Clock& clock_;
  NodeOptions options_;
  boost::asio::steady_timer timer_;
  bool running_ = false;
  struct Watched {
    std::chrono::sys_time<std::chrono::milliseconds> heartbeat;
    std::chrono::steady_clock::time_point since;  // when this node first saw that heartbeat
  };
  std::map<std::string, Watched> watched_;
};

}  // namespace jitgate
