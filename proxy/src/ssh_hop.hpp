// The bastion's own SSH connection to a target (terminating mode): resolve
// and connect within a deadline, mint a certificate for the session's grant
// on a fresh key, handshake, pin the target's host key (trust on first use,
// recorded), authenticate. Driven by the owner's loop through progress().
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "jitgate/authority.hpp"
#include "jitgate/handle.hpp"
#include "jitgate/model.hpp"
#include "jitgate/session_refusal.hpp"
#include "ssh_driver.hpp"

namespace jitgate {

class SshHop : public std::enable_shared_from_this<SshHop> {
 public:
  enum class State { Connecting, Handshake, Auth, Ready, Failed };
  struct Params {
    std::string user;  // the login on the target, the grant's holder
    std::string grantId;
    std::string target;  // its name, for records and messages
    std::string address;
    uint16_t port = 22;
    std::string knownHosts;  // <state_dir>/known_hosts
    std::chrono::seconds connectTimeout{10};
  };
  struct Events {
    std::function<void()> wake;  // progress() has something to do
    std::function<void()> ready;
    std::function<void(SessionRefusal, const std::string&)> failed;  // at most once
    std::function<void(AuditEntry)> record;                          // a host key learned
  };

  SshHop(boost::asio::io_context& io, CertificateAuthority& authority, Params params,
         Events events);
  SshHop(const SshHop&) = delete;
  SshHop& operator=(const SshHop&) = delete;

  void start();  // resolve and connect; then the session is made
  // The handshake and authentication, as far as the socket allows.
  void progress();
  State state() const { return state_; }
  bool settling() const { return state_ == State::Handshake || state_ == State::Auth; }
  ssh_session session() const { return session_.get(); }
  SshSocketWatch& watch() { return watch_; }
  // Closes the connection (with a disconnect message once it is up); no
  // event follows.
  void close();

 private:
  void connected();
  void fail(SessionRefusal reason, const std::string& message);
  static std::string hostKeyFingerprint(ssh_session s);

  CertificateAuthority& authority_;
  Params params_;
  Events events_;
  State state_ = State::Connecting;
  boost::asio::ip::tcp::socket socket_;
  boost::asio::ip::tcp::resolver resolver_;
  boost::asio::steady_timer timer_;
  SshSocketWatch watch_;
  SshSessionPtr session_;
  SshKeyPtr key_;
  bool closed_ = false;
};

}  // namespace jitgate
