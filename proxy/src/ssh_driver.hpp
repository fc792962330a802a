// libssh driven from the Asio loop: the readiness of a session's socket (a
// dup of its descriptor, waited on for reading, and for writing while libssh
// holds output) and one connection's ssh_event, the only place libssh is
// polled, never re-entered from inside its own callbacks.
#pragma once

#include <libssh/libssh.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "jitgate/handle.hpp"
#include "jitgate/result.hpp"

namespace jitgate {

class SshSocketWatch {
 public:
  explicit SshSocketWatch(boost::asio::io_context& io) : fd_(io) {}
  // Watches a dup of `fd` (the socket libssh reads and writes).
  Status watch(int fd);
  bool isOpen() const { return fd_.is_open(); }
  // Unread bytes in the kernel: libssh has more to read.
  bool inputPending() const;
  // Waits for the socket to be readable, and writable while `session` has
  // output pending; then calls `wake`. `owner` keeps this watch alive until
  // the wait's handler has run.
  void arm(ssh_session session, std::shared_ptr<void> owner, std::function<void()> wake);
  void close();
  // The descriptor, for a lingering close after libssh closed its own.
  boost::asio::posix::stream_descriptor release() { return std::move(fd_); }

 private:
  boost::asio::posix::stream_descriptor fd_;
  bool readWaiting_ = false, writeWaiting_ = false;
};

class SshDriver {
 public:
  bool open();  // false: out of memory
  // Sessions in the event are polled together (after their key exchange).
  void add(ssh_session s);
  void remove(ssh_session s);
  bool contains(ssh_session s) const;
  // One non-blocking poll: libssh reads what is there and runs our
  // callbacks. A call from inside one of them returns at once.
  void poll();
  void close();

 private:
  SshEventPtr event_;
  std::vector<ssh_session> sessions_;
  bool polling_ = false;
};

// Closes a client socket after libssh closed its own descriptor: FIN after
// the disconnect message, and what the client still sends read (for two
// seconds at most), so that a reset does not destroy the message unread.
void lingerClose(boost::asio::posix::stream_descriptor fd);

}  // namespace jitgate
