// One SSH client connection (ssh_connection.hpp): libssh in non-blocking
// mode, woken by the Asio loop (the client's and the hop's sockets, timers).
#include "ssh_connection.hpp"

#include <libssh/callbacks.h>
#include <libssh/libssh.h>
#include <libssh/server.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <vector>

#include "grant_binding.hpp"
#include "jitgate/text.hpp"
#include "jitgate/timefmt.hpp"
#include "jitgate/unique_fd.hpp"
#include "ssh_auth.hpp"
#include "ssh_driver.hpp"
#include "ssh_forward_relay.hpp"
#include "ssh_hop.hpp"
#include "ssh_session_relay.hpp"

namespace jitgate {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

constexpr int kPumpRounds = 64;  // per wake-up, then the loop serves others
constexpr auto kReplyRecheck = std::chrono::milliseconds(5);  // see awaitReplies()
constexpr uint64_t kMaxUnsent = 4 << 20;  // bytes libssh may hold for one client

class Connection final : public SshConnection,
                         public SshRelayHost,
                         public std::enable_shared_from_this<Connection> {
 public:
  Connection(std::shared_ptr<SshFront::Shared> front, std::string source, IpAddress sourceIp)
      : front_(std::move(front)),
        io_(front_->io),
        source_(std::move(source)),
        sourceIp_(sourceIp),
        auth_(front_->identities, front_->options.maxAuthAttempts, source_, sourceIp_),
        clientFd_(io_),
        grace_(io_),
        replyTimer_(io_),
        binding_(io_, front_->engine, front_->registry) {}

  ~Connection() { teardown(); }

  void start(tcp::socket socket) override {
    boost::system::error_code ignored;
    // SSH writes many small packets; Nagle with delayed ACKs would add tens
    // of milliseconds to each round trip of the handshake and of a shell.
    socket.set_option(tcp::no_delay(true), ignored);
    client_.reset(ssh_new());
    if (!driver_.open() || !client_) {
      spdlog::error("ssh: out of memory for a new session");
      closed_ = true;
      finish();
      return;
    }
    UniqueFd fd(socket.release());
    if (auto st = clientFd_.watch(fd.get()); !st) {
      spdlog::error("ssh: cannot take connection from {}: {}", source_, st.refusal().message);
      client_.reset();
      closed_ = true;
      finish();
      return;
    }
    // The session owns the socket from here on (ssh_free closes it).
    if (ssh_bind_accept_fd(front_->bind.get(), client_.get(), fd.release()) != SSH_OK) {
      spdlog::error("ssh: cannot take connection from {}: {}", source_,
                    ssh_get_error(front_->bind.get()));
      clientFd_.close();
      client_.reset();
      closed_ = true;
      finish();
      return;
    }
    ssh_set_blocking(client_.get(), 0);
    ssh_callbacks_init(&serverCb_);
    serverCb_.userdata = this;
    serverCb_.auth_pubkey_function = &Connection::authPubkeyThunk;
    serverCb_.channel_open_request_session_function = &Connection::sessionOpenThunk;
    ssh_set_server_callbacks(client_.get(), &serverCb_);
    ssh_set_auth_methods(client_.get(), SSH_AUTH_METHOD_PUBLICKEY);
    ssh_set_message_callback(client_.get(), &Connection::messageThunk, this);
    grace_.expires_after(front_->options.loginGraceTime);
    grace_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
      auto self = weak.lock();
      if (ec || !self || self->authenticated_ || self->closed_) return;
      self->refuseUnauthenticated(SessionRefusal::LoginGraceTime,
                                  "jitgate: authentication took too long; disconnecting");
    });
    pump();
  }

  // Closes everything with `why` (daemon stopping).
  void shutdown(EndReason why) override {
    if (closed_) return;
    closeAll(why, "jitgate: the bastion is shutting down");
  }

 private:
  // --- libssh callbacks (they run inside our calls into libssh) ------------
  static int authPubkeyThunk(ssh_session, const char* user, ssh_key key, char state, void* ud) {
    return static_cast<Connection*>(ud)->onAuthPubkey(user ? user : "", key, state);
  }
  static ssh_channel sessionOpenThunk(ssh_session, void* ud) {
    return static_cast<Connection*>(ud)->onSessionOpen();
  }
  static int messageThunk(ssh_session, ssh_message msg, void* ud) {
    return static_cast<Connection*>(ud)->onMessage(msg);
  }

  // Identity only from a key whose signature verified (ssh_auth.hpp).
  int onAuthPubkey(const std::string& rawUser, ssh_key key, char state) {
    if (authenticated_ || closed_) return SSH_AUTH_DENIED;
    auto a = auth_.attempt(rawUser, keyBlob(key), isCertificateType(ssh_key_type(key)), state,
                           front_->engine.now());
    switch (a.verdict) {
      case SshAuthentication::Verdict::Acceptable:
        return SSH_AUTH_SUCCESS;
      case SshAuthentication::Verdict::Denied:
        if (a.audit) front_->recordPreAuth(std::move(*a.audit));
        return SSH_AUTH_DENIED;
      case SshAuthentication::Verdict::Refused:
        pendingRefusal_ = a.why;
        pendingAudit_ = std::move(a.audit);
        pendingPreAuth_ = true;
        return SSH_AUTH_DENIED;
      case SshAuthentication::Verdict::Authenticated:
        break;
    }
    authenticated_ = true;
    grace_.cancel();
    leaveUnauthenticated();
    user_ = a.login.user;
    targetName_ = a.login.target;
    spdlog::info("ssh: {} authenticated from {} ({})", user_, source_, a.why);
    // Decided after authentication so that only the user learns why.
    if (!targetName_.empty()) beginTerminating();
    return SSH_AUTH_SUCCESS;
  }

  ssh_channel onSessionOpen() {
    if (closed_) return nullptr;
    if (!authenticated_) {
      protocolViolation("channel open before authentication");
      return nullptr;
    }
    if (sessions_.size() >= 10) return nullptr;
    if (!targetName_.empty() && (!binding_.active() || !pendingRefusal_.empty())) return nullptr;
    auto relay =
        std::make_unique<SshSessionRelay>(*this, client_.get(), targetName_.empty(), user_);
    ssh_channel c = relay->clientChannel();
    if (!c) return nullptr;
    sessions_.push_back(std::move(relay));
    return c;
  }

  void windowOpened() {
    if (closed_ || kickPosted_) return;
    kickPosted_ = true;
    asio::post(io_, [weak = weak_from_this()] {
      if (auto self = weak.lock()) {
        self->kickPosted_ = false;
        self->pump();
      }
    });
  }

  // The client's window alone does not bound what waits for it: a client
  // may advertise a huge window and stop reading. Counting what we handed
  // libssh for the client since its output buffer was last seen empty,
  // nothing more is taken for the client beyond kMaxUnsent.
  bool clientBacklogged() override {
    if (!client_ || !(ssh_get_poll_flags(client_.get()) & SSH_WRITE_PENDING)) {
      unsentToClient_ = 0;
      return false;
    }
    return unsentToClient_ >= kMaxUnsent;
  }

  // --- direct-tcpip (forward mode) and everything without a callback -------
  int onMessage(ssh_message msg) {
    if (closed_) return 1;
    int type = ssh_message_type(msg);
    int subtype = ssh_message_subtype(msg);
    if (!authenticated_) {
      if (type == SSH_REQUEST_CHANNEL_OPEN || type == SSH_REQUEST_CHANNEL ||
          type == SSH_REQUEST_GLOBAL) {
        protocolViolation("request before authentication");
        return 0;
      }
      return 1;  // the default answer: authentication failure
    }
    if (type == SSH_REQUEST_CHANNEL_OPEN && subtype == SSH_CHANNEL_DIRECT_TCPIP) {
      openForward(msg);
      return 0;
    }
    return 1;  // refused: agent and X11 forwarding, -R, other channel types
  }

  void openForward(ssh_message msg) {
    const char* dest = ssh_message_channel_request_open_destination(msg);
    int port = ssh_message_channel_request_open_destination_port(msg);
    std::string host = dest ? dest : "";
    auto refuse = [&](const std::string& target, SessionRefusal reason,
                      const std::string& message) {
      front_->record(
          refusalEntry("ssh-forward", user_, target,
                       port > 0 && port < 65536 ? std::optional<uint16_t>(port) : std::nullopt,
                       source_, reason, message));
      spdlog::info("ssh: {} from {}: forward to {}:{} refused: {}", user_, source_,
                   printable(host, 64), port, message);
      // An open failure carries no text that libssh lets us set. ssh -W
      // (and so -J) opens its one channel from port 65535 and exits on the
      // failure without a word: such a client gets the reason as the
      // disconnect message instead, which ssh prints.
      bool stdioForward = ssh_message_channel_request_open_originator_port(msg) == 65535;
      if (stdioForward && targetName_.empty() && sessions_.empty() && liveForwards() == 0) {
        pendingRefusal_ = "jitgate: " + message;
        return;
      }
      ssh_message_reply_default(msg);
    };
    if (!targetName_.empty()) {
      refuse(targetName_, SessionRefusal::ForwardInTerminatingSession,
             "forwarding is for logins without a target (" + user_ + "@bastion)");
      return;
    }
    if (port <= 0 || port > 65535) return refuse("", SessionRefusal::BadPort, "port out of range");
    auto choice = front_->engine.decideAt(printable(host, 255), user_, static_cast<uint16_t>(port),
                                          sourceIp_);
    const auto& d = choice.decision;
    if (!d.allowed)
      return refuse(choice.target ? choice.target->name : printable(host, 64), d.reason, d.message);
    const auto& target = choice.target;
    if (liveForwards() >= 64)
      return refuse(target->name, SessionRefusal::TooManyChannels,
                    "at most 64 forwarded channels at once");
    ssh_channel ch = ssh_message_channel_request_open_reply_accept(msg);
    if (!ch) return;
    std::shared_ptr<SshRelayHost> self = shared_from_this();
    auto f = std::make_shared<SshForwardRelay>(io_, self, front_->engine, front_->registry, ch,
                                               target->address, static_cast<uint16_t>(port));
    SessionRecord rec;
    rec.front = "ssh-forward";
    rec.user = user_;
    rec.target = target->name;
    rec.port = static_cast<uint16_t>(port);
    rec.source = source_;
    rec.grantId = d.grantId;
    forwards_.push_back(f);
    bind(f->binding(), rec, d, f);
    f->connect(front_->options.connectTimeout);
  }

  size_t liveForwards() const {
    return static_cast<size_t>(std::count_if(forwards_.begin(), forwards_.end(),
                                             [](const auto& f) { return !f->done(); }));
  }

  // --- Terminating mode ------------------------------------------------------
  void beginTerminating() {
    if (closed_) return;
    auto target = front_->engine.findTarget(targetName_);
    if (!target || target->name != targetName_) {
      return refuseAuthenticated(targetName_, std::nullopt, SessionRefusal::UnknownTarget,
                                 "no enrolled target named '" + targetName_ + "'");
    }
    target_ = *target;
    auto d = front_->engine.decide(user_, target_->name, target_->sshPort, sourceIp_);
    if (!d.allowed)
      return refuseAuthenticated(target_->name, target_->sshPort, d.reason, d.message);
    SessionRecord rec;
    rec.front = "ssh";
    rec.user = user_;
    rec.target = target_->name;
    rec.port = target_->sshPort;
    rec.source = source_;
    rec.grantId = d.grantId;
    bind(binding_, rec, d, std::shared_ptr<SshForwardRelay>());
    startHop();
  }

  void startHop() {
    SshHop::Params p;
    p.user = user_;
    p.grantId = binding_.record().grantId;
    p.target = target_->name;
    p.address = target_->address;
    p.port = target_->sshPort;
    p.knownHosts = front_->options.stateDir + "/known_hosts";
    p.connectTimeout = front_->options.connectTimeout;
    std::weak_ptr<Connection> weak = weak_from_this();
    SshHop::Events e;
    e.wake = [weak] {
      if (auto self = weak.lock()) self->pump();
    };
    e.ready = [weak] {
      if (auto self = weak.lock()) self->hopReady();
    };
    e.failed = [weak](SessionRefusal reason, const std::string& message) {
      if (auto self = weak.lock()) self->hopFailed(reason, message);
    };
    e.record = [weak](AuditEntry entry) {
      if (auto self = weak.lock()) self->front_->record(std::move(entry));
    };
    hop_ = std::make_shared<SshHop>(io_, front_->authority, std::move(p), std::move(e));
    hop_->start();
  }

  void hopReady() {
    driver_.add(hop_->session());
    front_->record(connectEntry(binding_.record()));
    spdlog::info("ssh: {} from {} connected to {} (grant {})", user_, source_, target_->name,
                 binding_.record().grantId);
  }

  void hopFailed(SessionRefusal reason, const std::string& message) {
    if (closed_) return;
    spdlog::warn("ssh: {} to {}: {}", user_, targetName_, message);
    std::string text = "jitgate: cannot open " + targetName_ + ": " + message;
    AuditEntry e =
        refusalEntry("ssh", user_, targetName_, binding_.record().port, source_, reason, message);
    e.grantId = binding_.record().grantId;
    binding_.unbind();  // never connected: no disconnect record
    front_->record(std::move(e));
    closeAll(EndReason::Error, text);
  }

  // --- Grants: binding, warnings, cutoff --------------------------------------
  // `f` is the forwarded channel the binding belongs to, or null for the
  // terminating session (the one that is warned). Handlers hold both weakly:
  // a channel may be gone by the time an event that was already due runs.
  void bind(GrantBinding& b, const SessionRecord& rec, const Decision& d,
            const std::shared_ptr<SshForwardRelay>& f) {
    std::weak_ptr<Connection> weak = weak_from_this();
    std::weak_ptr<SshForwardRelay> wf = f;
    bool forward = f != nullptr;
    GrantBinding::Events events;
    if (!forward)
      events.warn = [weak](SysTime end) {
        if (auto self = weak.lock()) self->warn(end);
      };
    events.ended = [weak, wf, forward](EndReason why, SysTime at) {
      auto self = weak.lock();
      auto fc = wf.lock();
      if (!self || (forward && !fc)) return;
      self->cut(fc.get(), why, at);
    };
    b.bind(rec, sourceIp_, d, forward ? std::chrono::seconds(0) : front_->options.warnBefore,
           std::move(events));
  }

  // No grant covers the session (or the channel `f`) any more.
  void cut(SshForwardRelay* f, EndReason why, SysTime at) {
    if (closed_) return;
    const auto& rec = f ? f->binding().record() : binding_.record();
    auto message = endMessage(rec.target, at, why, rec.endNote);
    spdlog::info("ssh: cutting {} on {} from {}: {}", rec.user, rec.target, source_, message);
    if (f) {
      f->end(why, "");
      if (liveForwards() == 0 && sessions_.empty())
        closeAll(why, message);
      else
        pump();
      return;
    }
    closeAll(why, message);
  }

  void warn(SysTime end) {
    if (closed_ || !binding_.active()) return;
    auto remaining = std::chrono::duration_cast<std::chrono::seconds>(end - front_->engine.now());
    std::string text = "\r\njitgate: access to " + binding_.record().target + " ends at " +
                       formatTimestamp(end) + " (in " +
                       std::to_string((remaining.count() + 59) / 60) + " min)\r\n";
    for (auto& s : sessions_) s->tell(text);
    pump();
  }

  // Ends a binding; a session that was connected gets its disconnect record.
  void unbind(GrantBinding& b, EndReason why, const std::string& note, bool connected) {
    if (!b.active()) return;
    b.unbind();
    if (connected) front_->record(disconnectEntry(b.record(), why, note));
  }

  // --- Refusals ------------------------------------------------------------
  // Called inside the authentication callback: step() ends the connection.
  void refuseAuthenticated(const std::string& target, std::optional<uint16_t> port,
                           SessionRefusal reason, const std::string& message) {
    spdlog::info("ssh: {} from {} refused: {}", user_, source_, message);
    pendingAudit_ = refusalEntry("ssh", user_, target, port, source_, reason, message);
    pendingPreAuth_ = false;
    pendingRefusal_ = "jitgate: " + message;
  }

  void refuseUnauthenticated(SessionRefusal reason, const std::string& message) {
    front_->recordPreAuth(refusalEntry("ssh", "", "", std::nullopt, source_, reason, message));
    closeAll(EndReason::Error, message);
  }

  void protocolViolation(const std::string& what) {
    if (closed_) return;
    front_->recordPreAuth(refusalEntry("ssh", user_, "", std::nullopt, source_,
                                       SessionRefusal::ProtocolViolation, what));
    violation_ = true;
  }

  // --- What the relays ask of the connection (SshRelayHost) ----------------
  bool flowing() const override { return binding_.active(); }
  SessionRecord& record() override { return binding_.record(); }
  void sentToClient(uint64_t n) override { unsentToClient_ += n; }
  void wake() override { windowOpened(); }
  void audit(AuditEntry e) override { front_->record(std::move(e)); }
  RecordingStore* recordings() override { return front_->options.recordings; }
  bool offersCommands() const override { return front_->shell != nullptr; }
  void commandQueued() override {
    asio::post(io_, [weak = weak_from_this()] {
      if (auto self = weak.lock()) self->runCommands();
    });
  }

  // --- The bastion's command interface ----------------------------------------
  // Run from the loop, outside libssh's callbacks: a command may end grants
  // (revoke) and so channels of this very connection.
  void runCommands() {
    auto self = shared_from_this();
    for (bool ran = true; ran && !closed_;) {
      ran = false;
      for (const auto& s : sessions_) {
        auto line = s->takeCommand();
        if (!line) continue;
        SshSessionRelay* relay = s.get();
        ShellUser who{user_, Roles{.requester = true}, sourceIp_};
        ShellAnswer a = front_->shell->run(who, *line);
        if (closed_) return;
        for (const auto& still : sessions_)
          if (still.get() == relay) relay->answer(std::move(a));
        ran = true;
        break;  // the list may have changed
      }
    }
    pump();
  }
  ssh_session readyHop() const {
    return hop_ && hop_->state() == SshHop::State::Ready ? hop_->session() : nullptr;
  }

  // --- The loop --------------------------------------------------------------
  void pump() override {
    if (closed_ || !client_) return;
    auto self = shared_from_this();  // callbacks may end us
    for (int round = 0; round < kPumpRounds && !closed_; ++round) {
      step();
      if (closed_) return;
      bool more = clientFd_.inputPending() || (hop_ && hop_->watch().inputPending());
      if (!more) break;
      if (round == kPumpRounds - 1) asio::post(io_, [self] { self->pump(); });
    }
    if (closed_) return;
    arm();
    awaitReplies();
  }

  // A relay waiting for the target's reply to a request is looked at again
  // after kReplyRecheck even without a socket event: the reply may have been
  // read by a libssh call made for another channel, and no callback says so.
  void awaitReplies() {
    if (replyTimerArmed_) return;
    bool waiting = std::any_of(sessions_.begin(), sessions_.end(),
                               [](const auto& s) { return s->awaitingReply(); });
    if (!waiting) return;
    replyTimerArmed_ = true;
    replyTimer_.expires_after(kReplyRecheck);
    replyTimer_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
      auto self = weak.lock();
      if (!self) return;
      self->replyTimerArmed_ = false;
      if (!ec) self->pump();
    });
  }

  void step() {
    ssh_session c = client_.get();
    if (!kexDone_) {
      int rc = ssh_handle_key_exchange(c);
      if (rc == SSH_AGAIN) return;
      if (rc != SSH_OK) {
        spdlog::debug("ssh: key exchange with {} failed: {}", source_, ssh_get_error(c));
        return closeAll(EndReason::Error, "");
      }
      kexDone_ = true;
      driver_.add(c);
    }
    driver_.poll();
    if (closed_) return;
    if (violation_) return closeAll(EndReason::Error, "jitgate: protocol violation");
    if (!pendingRefusal_.empty()) {
      if (pendingAudit_) {
        if (pendingPreAuth_)
          front_->recordPreAuth(std::move(*pendingAudit_));
        else
          front_->record(std::move(*pendingAudit_));
        pendingAudit_.reset();
      }
      return closeAll(EndReason::Error, pendingRefusal_);
    }
    if (!ssh_is_connected(c) || (ssh_get_status(c) & (SSH_CLOSED | SSH_CLOSED_ERROR))) {
      return closeAll(EndReason::ClientClosed, "");
    }
    if (hop_ && hop_->settling()) {
      auto hop = hop_;  // it may fail, and the connection let go of it
      hop->progress();
    }
    if (closed_) return;
    if (hop_ && hop_->state() == SshHop::State::Ready) {
      ssh_session h = hop_->session();
      if (!ssh_is_connected(h) || (ssh_get_status(h) & (SSH_CLOSED | SSH_CLOSED_ERROR))) {
        // The target went away: finish what it sent, then end.
        for (auto& s : sessions_) s->targetGone();
        targetGone_ = true;
      }
    }
    // By index: libssh may run our callbacks from inside these calls (its
    // flushes and polls), and a callback may add a channel to either list.
    for (size_t i = 0; i < sessions_.size() && !closed_; ++i) sessions_[i]->progress(readyHop());
    for (size_t i = 0; i < forwards_.size() && !closed_; ++i) {
      auto f = forwards_[i];  // kept alive through the call
      f->progress();
    }
    if (closed_) return;
    sessions_.erase(
        std::remove_if(sessions_.begin(), sessions_.end(), [](const auto& s) { return s->done(); }),
        sessions_.end());
    for (size_t i = 0; i < forwards_.size(); ++i)
      if (forwards_[i]->done()) forwards_[i]->close();
    forwards_.erase(
        std::remove_if(forwards_.begin(), forwards_.end(), [](const auto& f) { return f->done(); }),
        forwards_.end());
    if (targetGone_ && sessions_.empty()) closeAll(EndReason::TargetClosed, "");
  }

  void arm() {
    auto self = shared_from_this();
    auto wake = [self] { self->pump(); };
    clientFd_.arm(client_.get(), self, wake);
    if (hop_ && hop_->session() && hop_->state() != SshHop::State::Failed)
      hop_->watch().arm(hop_->session(), hop_, wake);
  }

  // Ends the connection: a last line to each shell, the reason as the
  // disconnect message, the hop closed, and each live binding audited.
  void closeAll(EndReason why, const std::string& message) {
    if (closed_) return;
    closed_ = true;
    if (!authenticated_)
      if (auto e = auth_.takeUnaudited()) front_->recordPreAuth(std::move(*e));
    if (client_ && !message.empty()) {
      std::string line = "\r\n" + message + "\r\n";
      for (size_t i = 0; i < sessions_.size(); ++i) sessions_[i]->tell(line);
      ssh_session_set_disconnect_message(client_.get(), message.c_str());
    }
    unbind(binding_, why, "", hop_ && hop_->state() == SshHop::State::Ready);
    for (size_t i = 0; i < forwards_.size(); ++i) {
      auto f = forwards_[i];
      f->end(why, "");
    }
    teardown();
    finish();
  }

  void teardown() {
    closed_ = true;  // callbacks libssh still runs from here on refuse everything
    if (client_) ssh_set_message_callback(client_.get(), nullptr, nullptr);
    grace_.cancel();
    replyTimer_.cancel();
    binding_.unbind();
    for (auto& f : forwards_) f->close();  // handlers may keep it; the channel dies now
    // Channels belong to their sessions: free them first.
    sessions_.clear();
    forwards_.clear();
    if (hop_) {
      if (hop_->session()) driver_.remove(hop_->session());
      hop_->close();
      hop_.reset();
    }
    if (client_) {
      driver_.remove(client_.get());
      // libssh writes only after a poll said the socket is writable, and
      // ssh_disconnect closes right after queueing its message: without this
      // the message (the reason the user must see) would never leave.
      ssh_set_fd_towrite(client_.get());
      ssh_disconnect(client_.get());
    }
    if (clientFd_.isOpen()) lingerClose(clientFd_.release());
    driver_.close();
    client_.reset();
    leaveUnauthenticated();
  }

  void finish() { front_->connections.erase(this); }

  void leaveUnauthenticated() {
    if (!countedUnauth_) return;
    countedUnauth_ = false;
    if (front_->unauthenticated > 0) --front_->unauthenticated;
    auto it = front_->unauthenticatedBySource.find(source_);
    if (it != front_->unauthenticatedBySource.end() && --it->second <= 0)
      front_->unauthenticatedBySource.erase(it);
  }

  std::shared_ptr<SshFront::Shared> front_;
  asio::io_context& io_;
  std::string source_;
  IpAddress sourceIp_;
  // Order matters for destruction: sessions outlive the event and channels.
  SshAuthentication auth_;
  SshSessionPtr client_;
  SshDriver driver_;
  SshSocketWatch clientFd_;
  asio::steady_timer grace_;
  asio::steady_timer replyTimer_;
  bool replyTimerArmed_ = false;
  ssh_server_callbacks_struct serverCb_{};
  bool kexDone_ = false;
  bool authenticated_ = false;
  bool closed_ = false;
  bool violation_ = false;
  bool targetGone_ = false;
  bool kickPosted_ = false;
  uint64_t unsentToClient_ = 0;  // see clientBacklogged()
  // A refusal decided inside a libssh callback, carried out by step():
  // the message ends the connection; the entry (if any) is audited then.
  std::string pendingRefusal_;
  std::optional<AuditEntry> pendingAudit_;
  bool pendingPreAuth_ = false;
  std::string user_, targetName_;
  std::optional<Target> target_;
  GrantBinding binding_;  // terminating mode
  // Shared with the hop's pending resolve and connect: Asio's composed
  // connect keeps using the socket until its handler has run.
  std::shared_ptr<SshHop> hop_;
  std::vector<std::unique_ptr<SshSessionRelay>> sessions_;
  std::vector<std::shared_ptr<SshForwardRelay>> forwards_;

  bool countedUnauth_ = true;
};

}  // namespace

std::shared_ptr<SshConnection> SshConnection::create(std::shared_ptr<SshFront::Shared> front,
                                                     std::string source,
                                                     const IpAddress& sourceIp) {
  return std::make_shared<Connection>(std::move(front), std::move(source), sourceIp);
}

}  // namespace jitgate
