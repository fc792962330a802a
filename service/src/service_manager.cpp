// sd_notify(3) and sd_watchdog_enabled(3) from libsystemd, driven by Asio.
#include "jitgate/service/service_manager.hpp"

#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include <cstdlib>
#include <cstring>

namespace jitgate {
namespace {

// STATUS= is one line: a newline would start another assignment.
std::string oneLine(const std::string& s) {
  std::string out = s;
  for (char& c : out)
    if (c == '\n' || c == '\r') c = ' ';
  return out;
}

}  // namespace

ServiceManager::ServiceManager(boost::asio::io_context& io) : timer_(io) {
  const char* socket = std::getenv("NOTIFY_SOCKET");
  notifying_ = socket && *socket;
  uint64_t usec = 0;
  int r = sd_watchdog_enabled(0, &usec);
  if (r < 0) spdlog::warn("systemd watchdog: {}", std::strerror(-r));
  if (r > 0) watchdog_ = std::chrono::microseconds(usec);
}

void ServiceManager::notify(const std::string& state) {
  if (!notifying_) return;
  int r = sd_notify(0, state.c_str());
  if (r < 0) spdlog::warn("sd_notify: {}", std::strerror(-r));
}

void ServiceManager::ready(const std::string& status) {
  notify("READY=1\nSTATUS=" + oneLine(status));
}

void ServiceManager::status(const std::string& status) { notify("STATUS=" + oneLine(status)); }

void ServiceManager::reloading(const std::string& status) {
  notify("RELOADING=1\nSTATUS=" + oneLine(status));
}

void ServiceManager::stopping(const std::string& status) {
  notify("STOPPING=1\nSTATUS=" + oneLine(status));
}

void ServiceManager::startWatchdog() {
  if (watchdog_.count() == 0 || watching_) return;
  watching_ = true;
  keepAlive();
}

void ServiceManager::stopWatchdog() {
  watching_ = false;
  timer_.cancel();
}

void ServiceManager::keepAlive() {
  if (!watching_) return;
  notify("WATCHDOG=1");
  timer_.expires_after(watchdog_ / 2);
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) keepAlive();
  });
}

}  // namespace jitgate
