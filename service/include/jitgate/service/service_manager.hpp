// The daemon's side of systemd's service protocol (Type=notify): READY=1
// once the fronts listen, STATUS= lines, RELOADING=1 and STOPPING=1, and
// watchdog keep-alives sent from the event loop itself, so that a loop that
// is stuck stops sending them and systemd restarts the service. Without
// NOTIFY_SOCKET (not started by systemd) every call does nothing.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <string>

namespace jitgate {

class ServiceManager {
 public:
  explicit ServiceManager(boost::asio::io_context& io);
  ServiceManager(const ServiceManager&) = delete;
  ServiceManager& operator=(const ServiceManager&) = delete;

  bool notifying() const { return notifying_; }
  void ready(const std::string& status);
  void status(const std::string& status);
  void reloading(const std::string& status);
  void stopping(const std::string& status);
  // Arms keep-alives at half the interval systemd asked for (WATCHDOG_USEC,
  // for this process: WATCHDOG_PID). No-op when no watchdog was asked for.
  void startWatchdog();
  void stopWatchdog();
  std::chrono::microseconds watchdogInterval() const { return watchdog_; }

 private:
  void notify(const std::string& state);
  void keepAlive();

  boost::asio::steady_timer timer_;
  bool notifying_ = false;
  bool watching_ = false;
  std::chrono::microseconds watchdog_{0};
};

}  // namespace jitgate
