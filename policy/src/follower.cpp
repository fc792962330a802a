// StoreFollower: catch-up by the change sequence, the fail-closed rule while
// the store is unreachable, and the grace for live sessions (follower.hpp).
#include "jitgate/follower.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>

namespace jitgate {

namespace {
constexpr size_t kBatch = 1000;  // changes read per query while catching up
}

StoreFollower::StoreFollower(boost::asio::io_context& io, Store& store, GrantEngine& engine,
                             FollowerOptions options)
    : io_(io), store_(store), engine_(engine), options_(options), timer_(io) {}

StoreFollower::~StoreFollower() { stop(); }

Status StoreFollower::start() {
  auto last = store_.lastChange();
  if (!last) return last.refusal();
  appliedSeq_ = *last;
  std::weak_ptr<bool> alive = alive_;
  store_.watch([this, alive] {
    // On the store's thread: hand over to the engine's.
    boost::asio::post(io_, [this, alive] {
      if (alive.lock()) tick();
    });
  });
  arm();
  return okStatus();
}

void StoreFollower::stop() {
  if (!alive_) return;
  store_.watch({});
  alive_.reset();
  timer_.cancel();
}

void StoreFollower::arm() {
  timer_.expires_after(options_.poll);
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    tick();
    arm();
  });
}

void StoreFollower::tick() {
  auto health = store_.health();
  auto now = std::chrono::steady_clock::now();
  if (!health.reachable) {
    if (!unreachableSince_) {
      unreachableSince_ = now;
      engine_.setStoreReachable(false);
      spdlog::warn(
          "store unreachable: new connections and changes are refused; live sessions "
          "are cut in {} s unless it is back ({})",
          options_.grace.count(), health.detail);
    }
    if (!sessionsCut_ && now - *unreachableSince_ >= options_.grace) {
      sessionsCut_ = true;
      spdlog::error("store unreachable for {} s (store_grace): cutting the live sessions",
                    options_.grace.count());
      engine_.endSessionsForStore();
    }
    return;
  }
  if (unreachableSince_) {
    // Back: first what the others committed meanwhile, then service.
    catchUp();
    unreachableSince_.reset();
    sessionsCut_ = false;
    engine_.setStoreReachable(true);
    engine_.flushHeldAudit();
    spdlog::info("store reachable again: serving");
    return;
  }
  catchUp();
}

void StoreFollower::catchUp() {
  while (true) {
    auto changes = store_.changesSince(appliedSeq_, kBatch);
    if (!changes) return;  // unreachable: the next tick says so
    for (const auto& c : *changes) {
      if (auto st = engine_.applyChange(c); !st) {
        // Not applied: retried from here at the next tick.
        spdlog::warn("store change {} ({} {}): {}", c.seq, c.kind, c.key, st.refusal().describe());
        return;
      }
      appliedSeq_ = c.seq;
    }
    if (changes->size() < kBatch) return;
  }
}

}  // namespace jitgate
