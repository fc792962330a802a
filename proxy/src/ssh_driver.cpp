// libssh on the Asio loop: socket readiness and the one poll (ssh_driver.hpp).
#include "ssh_driver.hpp"

#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/steady_timer.hpp>
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

// Our descriptor keeps the socket open after libssh closed its own: send
// FIN after the disconnect message and read what the client still sends,
// so that the kernel does not answer it with a reset that would destroy
// the message before the client reads it.
void lingerClose(asio::posix::stream_descriptor fd) {
  struct Linger : std::enable_shared_from_this<Linger> {
    Linger(asio::posix::stream_descriptor d) : fd(std::move(d)), timer(fd.get_executor()) {}
    asio::posix::stream_descriptor fd;
    asio::steady_timer timer;
    char buf[4096];
    size_t total = 0;
    void read() {
      fd.async_read_some(asio::buffer(buf), [self = shared_from_this()](
                                                const boost::system::error_code& ec, size_t n) {
        self->total += n;
        if (ec || self->total > 256 * 1024) {
          self->timer.cancel();
          boost::system::error_code ignored;
          self->fd.close(ignored);
          return;
        }
        self->read();
      });
    }
  };
  ::shutdown(fd.native_handle(), SHUT_WR);
  auto l = std::make_shared<Linger>(std::move(fd));
  l->timer.expires_after(std::chrono::seconds(2));
  l->timer.async_wait([l](const boost::system::error_code& ec) {
    if (ec) return;
    boost::system::error_code ignored;
    l->fd.close(ignored);
  });
  l->read();
}

}  // namespace jitgate
