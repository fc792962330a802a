// GET /metrics over HTTP/1.1 on the daemon's one event loop (Beast): a scrape
// renders the registry on the thread that updates it, and stopping is
// closing an acceptor and its few connections (no server thread to join).
#pragma once

#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>
#include <string>

#include "jitgate/proxy/config.hpp"
#include "jitgate/result.hpp"

namespace jitgate {

class MetricsHttp {
 public:
  // `render` gives the exposition text; called on `io`'s thread.
  MetricsHttp(boost::asio::io_context& io, std::function<std::string()> render);
  ~MetricsHttp();
  MetricsHttp(const MetricsHttp&) = delete;
  MetricsHttp& operator=(const MetricsHttp&) = delete;

  Status listen(const ListenAddress& at);
  std::string boundAddress() const;  // "127.0.0.1:9620"
  // Closes the acceptor and every connection; idempotent.
  void stop();

 private:
  struct Shared;
  std::shared_ptr<Shared> shared_;
};

}  // namespace jitgate
