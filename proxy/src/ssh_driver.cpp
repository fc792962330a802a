// libssh on the Asio loop: socket readiness and the one poll (ssh_driver.hpp).
#include "ssh_driver.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace jitgate {

namespace asio = boost::asio;

Status SshSocketWatch::watch(int fd) {
  int dup = ::dup(fd);
  if (dup < 0) return invalid("ssh", std::string("dup: ") + std::strerror(errno));
  boost::system::error_code ec;
  fd_.assign(dup, ec);
  if (ec) {
    ::close(dup);
    return invalid("ssh", "watching the socket: " + ec.message());
  }
  return okStatus();
}

bool SshSocketWatch::inputPending() const {
  int n = 0;
  int fd = const_cast<asio::posix::stream_descriptor&>(fd_).native_handle();
  return fd_.is_open() && ::ioctl(fd, FIONREAD, &n) == 0 && n > 0;
}

void SshSocketWatch::arm(ssh_session session, std::shared_ptr<void> owner,
                         std::function<void()> wake) {
  if (!fd_.is_open()) return;
  if (!readWaiting_) {
    readWaiting_ = true;
    fd_.async_wait(asio::posix::stream_descriptor::wait_read,
                   [this, owner, wake](const boost::system::error_code& ec) {
                     readWaiting_ = false;
                     if (!ec) wake();
                   });
  }
  if (!writeWaiting_ && (ssh_get_poll_flags(session) & SSH_WRITE_PENDING)) {
    writeWaiting_ = true;
    fd_.async_wait(asio::posix::stream_descriptor::wait_write,
                   [this, owner, wake](const boost::system::error_code& ec) {
                     writeWaiting_ = false;
                     if (!ec) wake();
                   });
  }
}

void SshSocketWatch::close() {
  boost::system::error_code ec;
  fd_.close(ec);
}

bool SshDriver::open() {
  event_.reset(ssh_event_new());
  return event_ != nullptr;
}

void SshDriver::add(ssh_session s) {
  if (!event_ || contains(s)) return;
  ssh_event_add_session(event_.get(), s);
  sessions_.push_back(s);
}

void SshDriver::remove(ssh_session s) {
  if (!event_ || !contains(s)) return;
  ssh_event_remove_session(event_.get(), s);
  sessions_.erase(std::find(sessions_.begin(), sessions_.end(), s));
}

bool SshDriver::contains(ssh_session s) const {
  return std::find(sessions_.begin(), sessions_.end(), s) != sessions_.end();
}

void SshDriver::poll() {
  if (!event_ || polling_) return;
  polling_ = true;
  ssh_event_dopoll(event_.get(), 0);
  polling_ = false;
}

void SshDriver::close() {
  for (auto s : std::vector<ssh_session>(sessions_)) remove(s);
  event_.reset();
}

}  // namespace jitgate
