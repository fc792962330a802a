// A direct-tcpip channel relayed to TCP (ssh_forward_relay.hpp).
#include "ssh_forward_relay.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/connect.hpp>

namespace jitgate {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {
constexpr size_t kRelayChunk = 64 * 1024;

bool wouldBlock(const boost::system::error_code& ec) {
  return ec == asio::error::would_block || ec == asio::error::try_again;
}
}  // namespace

SshForwardRelay::SshForwardRelay(asio::io_context& io, std::weak_ptr<SshRelayHost> host,
                                 GrantEngine& engine, SessionRegistry& registry,
                                 ssh_channel channel, std::string address, uint16_t port)
    : host_(std::move(host)),
      ch_(channel),
      socket_(io),
      resolver_(io),
      connectTimer_(io),
      binding_(io, engine, registry),
      address_(std::move(address)),
      port_(port),
      buf_(kRelayChunk) {
  ssh_callbacks_init(&cb_);
  cb_.userdata = this;
  cb_.channel_data_function = [](ssh_session, ssh_channel, void* data, uint32_t len, int,
                                 void* ud) {
    return static_cast<SshForwardRelay*>(ud)->onData(static_cast<const char*>(data), len);
  };
  cb_.channel_write_wontblock_function = [](ssh_session, ssh_channel, uint32_t, void* ud) {
    if (auto* h = static_cast<SshForwardRelay*>(ud)->liveHost()) h->wake();
    return 0;
  };
  // Heard maybe inside a libssh call made for another channel, after this
  // relay's progress() ran: acted on in the next round.
  cb_.channel_eof_function = [](ssh_session, ssh_channel, void* ud) {
    auto* f = static_cast<SshForwardRelay*>(ud);
    if (f->fromClient_ == Heard::Open) f->fromClient_ = Heard::Eof;
    if (auto* h = f->liveHost()) h->wake();
  };
  cb_.channel_close_function = [](ssh_session, ssh_channel, void* ud) {
    auto* f = static_cast<SshForwardRelay*>(ud);
    f->fromClient_ = Heard::Closed;
    if (auto* h = f->liveHost()) h->wake();
  };
  ssh_set_channel_callbacks(ch_.get(), &cb_);
}

SshForwardRelay::~SshForwardRelay() { releaseChannel(); }

SshRelayHost* SshForwardRelay::liveHost() const { return host_.lock().get(); }

void SshForwardRelay::releaseChannel() {
  if (ch_) ssh_remove_channel_callbacks(ch_.get(), &cb_);
  ch_.reset();
}

void SshForwardRelay::connect(std::chrono::seconds timeout) {
  auto self = shared_from_this();
  connectTimer_.expires_after(timeout);
  connectTimer_.async_wait([self](const boost::system::error_code& ec) {
    if (ec || self->stage_ != Stage::Connecting) return;
    self->resolver_.cancel();
    boost::system::error_code ignored;
    self->socket_.close(ignored);
  });
  resolver_.async_resolve(
      address_, std::to_string(port_),
      [self](const boost::system::error_code& ec, tcp::resolver::results_type results) {
        if (self->done()) return;
        if (ec) return self->fail("cannot resolve " + self->address_ + ": " + ec.message());
        asio::async_connect(self->socket_, results,
                            [self](const boost::system::error_code& ec, const tcp::endpoint&) {
                              if (self->done()) return;
                              if (ec)
                                return self->fail("cannot connect to " + self->address_ + ":" +
                                                  std::to_string(self->port_) + ": " +
                                                  ec.message());
                              self->connectTimer_.cancel();
                              self->stage_ = Stage::Relaying;
                              self->connected_ = true;
                              boost::system::error_code opt;
                              self->socket_.non_blocking(true, opt);
                              if (!opt) self->socket_.set_option(tcp::no_delay(true), opt);
                              if (opt) return self->fail("socket: " + opt.message());
                              auto host = self->host_.lock();
                              if (!host) return;
                              host->audit(connectEntry(self->binding_.record()));
                              host->pump();
                            });
      });
}

void SshForwardRelay::fail(const std::string& why) {
  spdlog::info("ssh: {} forward {}:{}: {}", binding_.record().user, address_, port_, why);
  end(EndReason::Error, why);
  if (auto h = host_.lock()) h->pump();
}

// Inside libssh's poll: what the socket takes now; the rest stays in libssh
// (holding back the client's window) until toTarget() moves it.
int SshForwardRelay::onData(const char* data, uint32_t len) {
  if (stage_ != Stage::Relaying || targetShut_ || !outPending_.empty()) return 0;
  boost::system::error_code ec;
  size_t n = socket_.write_some(asio::buffer(data, len), ec);
  if (wouldBlock(ec)) {
    n = 0;
  } else if (ec) {
    end(EndReason::TargetClosed, "");
    return 0;
  }
  binding_.record().bytesToTarget += n;
  if (n < len) waitWritable();
  return static_cast<int>(n);
}

void SshForwardRelay::waitWritable() { waitFor(tcp::socket::wait_write, writeWaiting_); }
void SshForwardRelay::waitReadable() { waitFor(tcp::socket::wait_read, readWaiting_); }

// One wait at a time per direction; the connection's loop runs when it ends.
void SshForwardRelay::waitFor(tcp::socket::wait_type what, bool& waiting) {
  if (waiting || done()) return;
  waiting = true;
  socket_.async_wait(what,
                     [self = shared_from_this(), &waiting](const boost::system::error_code& ec) {
                       waiting = false;
                       if (auto h = self->host_.lock(); h && !ec) h->pump();
                     });
}

// Client -> target: what libssh holds for the channel, while the socket
// takes it; the target's FIN once the client's EOF came and all is sent.
void SshForwardRelay::toTarget() {
  boost::system::error_code ec;
  for (int i = 0; i < 16 && !targetShut_; ++i) {
    if (outPending_.empty()) {
      int avail = ssh_channel_poll(ch_.get(), 0);
      if (avail <= 0) break;
      outPending_.resize(std::min<size_t>(static_cast<size_t>(avail), kRelayChunk));
      int n = ssh_channel_read_nonblocking(ch_.get(), outPending_.data(),
                                           static_cast<uint32_t>(outPending_.size()), 0);
      if (n <= 0) {
        outPending_.clear();
        break;
      }
      outPending_.resize(static_cast<size_t>(n));
    }
    size_t w = socket_.write_some(asio::buffer(outPending_), ec);
    if (wouldBlock(ec)) {
      waitWritable();
      break;
    }
    if (ec) return end(EndReason::TargetClosed, "");
    binding_.record().bytesToTarget += w;
    outPending_.erase(outPending_.begin(), outPending_.begin() + static_cast<long>(w));
    if (!outPending_.empty()) {
      waitWritable();
      break;
    }
  }
  if (fromClient_ != Heard::Open && !targetShut_ && outPending_.empty() &&
      ssh_channel_poll(ch_.get(), 0) <= 0) {
    socket_.shutdown(tcp::socket::shutdown_send, ec);
    targetShut_ = true;
  }
}

// Target -> client: the socket is read only while the channel's window is
// open, nothing read earlier still waits, and libssh is not holding too much
// for the client; at most a budget per wake-up, then the loop serves others.
void SshForwardRelay::toClient() {
  auto host = host_.lock();
  if (!host) return;
  boost::system::error_code ec;
  size_t budget = 4 * kRelayChunk;
  while (toClient_ != Told::Closed && budget > 0) {
    if (!inPending_.empty()) {
      uint32_t w = writeSome(ch_.get(), inPending_.data(), inPending_.size(), false);
      inPending_.erase(0, w);
      binding_.record().bytesFromTarget += w;
      host->sentToClient(w);
      budget -= std::min<size_t>(budget, w);
      if (!inPending_.empty()) break;  // resumes when the window opens again
    }
    if (targetEof_) break;
    if (host->clientBacklogged()) break;  // resumes when libssh has sent it
    uint32_t win = ssh_channel_window_size(ch_.get());
    if (win == 0) break;  // resumes when the client's window adjust arrives
    size_t want = std::min<size_t>({win, buf_.size(), budget});
    size_t n = socket_.read_some(asio::buffer(buf_.data(), want), ec);
    if (wouldBlock(ec)) {
      waitReadable();
      break;
    }
    if (ec == asio::error::eof) {
      targetEof_ = true;
      break;
    }
    if (ec) return end(EndReason::TargetClosed, "");
    inPending_.assign(buf_.data(), n);
  }
  if (budget == 0) host->wake();
  if (targetEof_ && inPending_.empty() && toClient_ == Told::Open) {
    ssh_channel_send_eof(ch_.get());
    toClient_ = Told::Eof;
  }
}

void SshForwardRelay::progress() {
  if (stage_ != Stage::Relaying) return;
  toTarget();
  if (done()) return;
  toClient();
  if (done()) return;
  // After the client's close, what it sent before still goes to the target.
  if ((fromClient_ == Heard::Closed && targetShut_) ||
      (targetEof_ && inPending_.empty() && targetShut_))
    end(fromClient_ == Heard::Closed ? EndReason::ClientClosed : EndReason::TargetClosed, "");
}

void SshForwardRelay::end(EndReason why, const std::string& note) {
  if (done()) return;
  stage_ = Stage::Done;
  if (toClient_ != Told::Closed && ch_) {
    ssh_channel_close(ch_.get());
    toClient_ = Told::Closed;
  }
  boost::system::error_code ec;
  connectTimer_.cancel();
  resolver_.cancel();
  socket_.close(ec);
  if (!binding_.active()) return;
  binding_.unbind();
  if (auto h = host_.lock(); h && connected_)
    h->audit(disconnectEntry(binding_.record(), why, note));
}

void SshForwardRelay::close() {
  boost::system::error_code ec;
  connectTimer_.cancel();
  resolver_.cancel();
  socket_.close(ec);
  releaseChannel();
}

}  // namespace jitgate
