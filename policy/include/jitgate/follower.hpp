// A node's follower of a store shared with other nodes (PostgreSQL): it
// applies what the others committed to this node's engine, in the order of
// the change sequence (woken by the store's notifications, polling anyway so
// that a lost notification costs one poll), and fails closed while the store
// cannot be reached: new connections at once, live sessions after the grace.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <optional>

#include "jitgate/engine.hpp"
#include "jitgate/store.hpp"

namespace jitgate {

struct FollowerOptions {
  std::chrono::milliseconds poll{500};  // catch-up and health check, notifications or not
  std::chrono::seconds grace{60};       // store_grace: live sessions outlast an unreachable store
};

// Runs on the engine's io_context.
class StoreFollower {
 public:
  StoreFollower(boost::asio::io_context& io, Store& store, GrantEngine& engine,
                FollowerOptions options);
  ~StoreFollower();
  StoreFollower(const StoreFollower&) = delete;
  StoreFollower& operator=(const StoreFollower&) = delete;

  // Notes the store's last change: call before the engine loads its state,
  // so that nothing committed in between is missed (applying twice is
  // harmless). Then starts polling and watching.
  Status start();
  void stop();

  int64_t appliedSeq() const { return appliedSeq_; }

 private:
  void arm();
  void tick();
  void catchUp();

  boost::asio::io_context& io_;
  Store& store_;
  GrantEngine& engine_;
  FollowerOptions options_;
  boost::asio::steady_timer timer_;
  // Whether this follower is still alive, for the store's wake-ups (posted
  // from the store's thread).
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  int64_t appliedSeq_ = 0;
  std::optional<std::chrono::steady_clock::time_point> unreachableSince_;
  bool sessionsCut_ = false;
};

}  // namespace jitgate
