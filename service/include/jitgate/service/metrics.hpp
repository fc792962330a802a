// Prometheus metrics of the daemon (prometheus-cpp's registry), served at
// GET /metrics on the daemon's event loop (metrics_http.hpp). Session and
// certificate counters are read from what the store commits (so they agree
// with the audit log), gauges from the engine when Prometheus scrapes,
// latencies from the engine and the store. Labels take only bounded values:
// a front, a mode, a reason from the refusal list, never a user, a target or
// an address. Names: docs/SERVICE.md.
#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "jitgate/engine.hpp"
#include "jitgate/proxy/config.hpp"
#include "jitgate/result.hpp"
#include "jitgate/service/observed_store.hpp"

namespace jitgate {

class Metrics final : public StoreObserver {
 public:
  // Counts without serving (tests render text()): observes `store`'s commits,
  // the engine's window ends (for the cutoff lag) and its decisions.
  // Everything but decided() runs on `io`'s thread.
  Metrics(boost::asio::io_context& io, GrantEngine& engine, ObservedStore& store);
  ~Metrics() override;
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // Starts serving GET /metrics on `listen` (port 0: any free port).
  Status serve(const ListenAddress& listen);
  void stopServing();
  std::string boundAddress() const;  // "127.0.0.1:9620"

  // The exposition text a scrape gets. On the io thread.
  std::string text() const;

  void committed(const Commit& c) override;
  void storeAnswered(bool reachable) override;
  // Any thread.
  void decided(bool allowed, std::chrono::nanoseconds took);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace jitgate
