// One direct-tcpip channel (ssh -J, -W, -L) and its TCP connection to the
// target: two transfers, each with back-pressure (channel to socket while the
// socket takes it; socket to channel while the client's window is open and
// libssh is not holding too much for it), half-close kept each way.
#pragma once

#include <libssh/callbacks.h>
#include <libssh/libssh.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "grant_binding.hpp"
#include "jitgate/handle.hpp"
#include "ssh_session_relay.hpp"

namespace jitgate {

class SshForwardRelay : public std::enable_shared_from_this<SshForwardRelay> {
 public:
  enum class Stage { Connecting, Relaying, Done };
  enum class Heard { Open, Eof, Closed };  // from the client's channel
  enum class Told { Open, Eof, Closed };   // to the client's channel

  // `channel` is accepted already; `host` keeps it alive from its side.
  SshForwardRelay(boost::asio::io_context& io, std::weak_ptr<SshRelayHost> host,
                  GrantEngine& engine, SessionRegistry& registry, ssh_channel channel,
                  std::string address, uint16_t port);
  ~SshForwardRelay();
  SshForwardRelay(const SshForwardRelay&) = delete;
  SshForwardRelay& operator=(const SshForwardRelay&) = delete;

  // Resolves and connects within `timeout`; then the bytes flow.
  void connect(std::chrono::seconds timeout);
  // Both transfers as far as each side allows, then the ends.
  void progress();
  // Closes the channel and the socket; a connected channel's disconnect is
  // audited with `why`.
  void end(EndReason why, const std::string& note);
  // Stops everything without a record (the connection is going); the
  // channel dies with its session.
  void close();
  bool done() const { return stage_ == Stage::Done; }
  GrantBinding& binding() { return binding_; }

 private:
  int onData(const char* data, uint32_t len);
  void toTarget();  // the channel's bytes into the socket
  void toClient();  // the socket's bytes into the channel
  void waitWritable();
  void waitReadable();
  void waitFor(boost::asio::ip::tcp::socket::wait_type what, bool& waiting);
  void fail(const std::string& why);
  void releaseChannel();
  SshRelayHost* liveHost() const;

  std::weak_ptr<SshRelayHost> host_;
  SshChannelPtr ch_;
  ssh_channel_callbacks_struct cb_{};
  boost::asio::ip::tcp::socket socket_;
  boost::asio::ip::tcp::resolver resolver_;
  boost::asio::steady_timer connectTimer_;
  GrantBinding binding_;
  std::string address_;
  uint16_t port_;
  Stage stage_ = Stage::Connecting;
  bool connected_ = false;  // reached Relaying once: its end is audited
  Heard fromClient_ = Heard::Open;
  bool targetEof_ = false;   // the socket read EOF
  bool targetShut_ = false;  // we sent the target our FIN
  Told toClient_ = Told::Open;
  bool readWaiting_ = false, writeWaiting_ = false;
  std::vector<char> outPending_;  // read from the channel, not yet taken by the socket
  std::string inPending_;         // read from the socket, not yet taken by the channel
  std::vector<char> buf_;
};

}  // namespace jitgate
