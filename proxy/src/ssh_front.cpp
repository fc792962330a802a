// The SSH front: libssh sessions in non-blocking mode, woken by the Asio loop
// (readiness of the client's and the hop's sockets, timers), relaying with
// back-pressure through SSH channel windows. See docs/SSH.md.
#include "jitgate/proxy/ssh_front.hpp"

#include <libssh/callbacks.h>
#include <libssh/libssh.h>
#include <libssh/server.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <cstring>
#include <deque>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "grant_binding.hpp"
#include "jitgate/files.hpp"
#include "jitgate/handle.hpp"
#include "jitgate/proxy/ssh_login.hpp"
#include "jitgate/ssh_cert.hpp"
#include "jitgate/ssh_key.hpp"
#include "jitgate/ssh_wire.hpp"
#include "jitgate/text.hpp"
#include "jitgate/timefmt.hpp"
#include "jitgate/unique_fd.hpp"
#include "ssh_auth.hpp"
#include "ssh_driver.hpp"
#include "ssh_hop.hpp"

namespace jitgate {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using SteadyClock = std::chrono::steady_clock;

constexpr size_t kRelayChunk = 64 * 1024;

// libssh 0.10's chacha20-poly1305 breaks the connection at the first rekey
// (OpenSSH clients rekey after 1 GiB: "Bad packet length", found with
// tests/bench/ssh_bench.sh); AES-GCM and AES-CTR rekey cleanly, so those are
// offered. A client takes the first of its own preferences that the server
// has: OpenSSH lists AES-CTR before AES-GCM (which costs this relay about
// 45 % more CPU per byte), and paramiko (Ansible's fallback) has only CTR.
constexpr const char* kFrontCiphers =
    "aes256-gcm@openssh.com,aes128-gcm@openssh.com,aes256-ctr,aes192-ctr,aes128-ctr";
constexpr int kPumpRounds = 64;           // per wake-up, then the loop serves others
constexpr size_t kMaxOps = 64;            // requests queued for a hop channel not yet open
constexpr uint64_t kMaxUnsent = 4 << 20;  // bytes libssh may hold for one client

class SshConnection;

}  // namespace

// --- What the front's connections share ---------------------------------------

struct SshFront::Shared : std::enable_shared_from_this<SshFront::Shared> {
  Shared(asio::io_context& io, GrantEngine& engine, CertificateAuthority& authority,
         SessionRegistry& registry, SshFrontOptions options)
      : io(io),
        engine(engine),
        authority(authority),
        registry(registry),
        options(std::move(options)),
        acceptor(io) {}

  asio::io_context& io;
  GrantEngine& engine;
  CertificateAuthority& authority;
  SessionRegistry& registry;
  SshFrontOptions options;
  SshBindPtr bind;
  tcp::acceptor acceptor;
  std::string hostKeyFingerprint;
  bool stopping = false;

  size_t unauthenticated = 0;
  std::unordered_map<std::string, int> unauthenticatedBySource;
  std::unordered_map<SshConnection*, std::weak_ptr<SshConnection>> connections;

  // Refusals before authentication can be provoked by anyone at any rate;
  // each audit entry costs a durable write, so at most kAuditBurst per second
  // are written one by one and the rest are counted into the next entry.
  static constexpr int kAuditBurst = 20;
  SteadyClock::time_point auditSecond{};
  int auditedThisSecond = 0;
  int suppressed = 0;

  void recordPreAuth(AuditEntry e) {
    auto now = SteadyClock::now();
    if (now - auditSecond >= std::chrono::seconds(1)) {
      auditSecond = now;
      auditedThisSecond = 0;
    }
    if (auditedThisSecond >= kAuditBurst) {
      ++suppressed;
      spdlog::info("ssh: {} ({} {})", e.detail, e.source, e.user);
      return;
    }
    ++auditedThisSecond;
    if (suppressed > 0) {
      e.detail += " (and " + std::to_string(suppressed) +
                  " earlier pre-authentication refusals not recorded one by one)";
      suppressed = 0;
    }
    record(std::move(e));
  }

  // Entries are queued and written together once the loop has finished what
  // it is doing: a burst of cutoffs closes every session first, then costs
  // one durable write instead of one per session.
  std::vector<AuditEntry> auditQueue;
  void record(AuditEntry e) {
    auditQueue.push_back(std::move(e));
    if (auditQueue.size() > 1) return;  // a flush is already on its way
    asio::post(io, [weak = weak_from_this()] {
      if (auto self = weak.lock()) self->flushAudit();
    });
  }
  void flushAudit() {
    auto entries = std::move(auditQueue);
    auditQueue.clear();
    if (!engine.record(std::move(entries)))
      spdlog::error("ssh: audit entries not written (see above)");
  }

  void accept();
  void onAccept(tcp::socket socket);

  // Trusted CA keys, revoked serials and users' keys, for authentication.
  SshIdentityCache identities{identitiesFrom(authority, engine)};
  int listener_ = 0;
};

namespace {

// One client session channel in terminating mode and its twin on the hop.
struct SessionChannel {
  SshConnection* conn = nullptr;
  SshChannelPtr client;
  SshChannelPtr up;
  ssh_channel_callbacks_struct clientCb{};
  ssh_channel_callbacks_struct upCb{};
  // Requests for the hop's channel, replayed in order once it can take them:
  // each returns SSH_OK (done), SSH_AGAIN (call again later) or SSH_ERROR.
  std::deque<std::function<int()>> ops;
  bool opened = false;
  bool started = false;  // shell, exec or subsystem asked for
  bool clientEof = false, clientClosed = false;
  bool upEof = false, upClosed = false;
  bool eofSentUp = false, eofSentClient = false, closedClient = false, closedUp = false;
  std::optional<int> exitStatus;
  std::optional<std::string> exitSignal;
  // Read from one channel, not yet taken by the other (a write that takes
  // less, e.g. while a key re-exchange holds the session): at most one chunk.
  std::string pendingUp, pendingDown, pendingDownErr;
  bool forwardOnly = false;  // a "user" login without a target: nothing upstream
  bool done = false;

  // libssh keeps a freed channel until the peer's close arrives; it must not
  // call back into a SessionChannel that is gone.
  ~SessionChannel() {
    if (client) ssh_remove_channel_callbacks(client.get(), &clientCb);
    if (up) ssh_remove_channel_callbacks(up.get(), &upCb);
  }
};

// One direct-tcpip channel and its TCP connection to the target.
struct ForwardChannel {
  ForwardChannel(asio::io_context& io, GrantEngine& engine, SessionRegistry& registry)
      : socket(io), resolver(io), connectTimer(io), binding(io, engine, registry) {}
  SshConnection* conn = nullptr;
  SshChannelPtr ch;
  ssh_channel_callbacks_struct cb{};
  tcp::socket socket;
  tcp::resolver resolver;
  asio::steady_timer connectTimer;
  GrantBinding binding;
  std::string host;
  uint16_t port = 0;
  bool connected = false;
  bool clientEof = false, clientClosed = false, tcpEof = false;
  bool eofSentClient = false, shutdownSent = false, closedClient = false;
  bool readWaiting = false, writeWaiting = false;
  std::vector<char> outPending;  // read from the channel, not yet taken by the socket
  std::string inPending;         // read from the socket, not yet taken by the channel
  std::vector<char> buf = std::vector<char>(kRelayChunk);
  bool done = false;

  void releaseChannel() {
    if (ch) ssh_remove_channel_callbacks(ch.get(), &cb);
    ch.reset();
  }
  ~ForwardChannel() { releaseChannel(); }
};

class SshConnection : public std::enable_shared_from_this<SshConnection> {
 public:
  SshConnection(std::shared_ptr<SshFront::Shared> front, std::string source, IpAddress sourceIp)
      : front_(std::move(front)),
        io_(front_->io),
        source_(std::move(source)),
        sourceIp_(sourceIp),
        auth_(front_->identities, front_->options.maxAuthAttempts, source_, sourceIp_),
        clientFd_(io_),
        grace_(io_),
        binding_(io_, front_->engine, front_->registry) {}

  ~SshConnection() { teardown(); }

  void start(tcp::socket socket) {
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
    serverCb_.auth_pubkey_function = &SshConnection::authPubkeyThunk;
    serverCb_.channel_open_request_session_function = &SshConnection::sessionOpenThunk;
    ssh_set_server_callbacks(client_.get(), &serverCb_);
    ssh_set_auth_methods(client_.get(), SSH_AUTH_METHOD_PUBLICKEY);
    ssh_set_message_callback(client_.get(), &SshConnection::messageThunk, this);
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
  void shutdown(EndReason why) {
    if (closed_) return;
    closeAll(why, "jitgate: the bastion is shutting down");
  }

 private:
  // --- libssh callbacks (they run inside our calls into libssh) ------------
  static int authPubkeyThunk(ssh_session, const char* user, ssh_key key, char state, void* ud) {
    return static_cast<SshConnection*>(ud)->onAuthPubkey(user ? user : "", key, state);
  }
  static ssh_channel sessionOpenThunk(ssh_session, void* ud) {
    return static_cast<SshConnection*>(ud)->onSessionOpen();
  }
  static int messageThunk(ssh_session, ssh_message msg, void* ud) {
    return static_cast<SshConnection*>(ud)->onMessage(msg);
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
    auto sc = std::make_unique<SessionChannel>();
    sc->conn = this;
    sc->forwardOnly = targetName_.empty();
    sc->client.reset(ssh_channel_new(client_.get()));
    if (!sc->client) return nullptr;
    ssh_callbacks_init(&sc->clientCb);
    sc->clientCb.userdata = sc.get();
    sc->clientCb.channel_data_function = &SshConnection::clientDataThunk;
    sc->clientCb.channel_eof_function = &SshConnection::clientEofThunk;
    sc->clientCb.channel_close_function = &SshConnection::clientCloseThunk;
    sc->clientCb.channel_pty_request_function = &SshConnection::ptyThunk;
    sc->clientCb.channel_shell_request_function = &SshConnection::shellThunk;
    sc->clientCb.channel_exec_request_function = &SshConnection::execThunk;
    sc->clientCb.channel_subsystem_request_function = &SshConnection::subsystemThunk;
    sc->clientCb.channel_env_request_function = &SshConnection::envThunk;
    sc->clientCb.channel_pty_window_change_function = &SshConnection::windowThunk;
    sc->clientCb.channel_signal_function = &SshConnection::signalThunk;
    sc->clientCb.channel_write_wontblock_function = &SshConnection::sessionWindowThunk;
    ssh_set_channel_callbacks(sc->client.get(), &sc->clientCb);
    if (!sc->forwardOnly) {
      SessionChannel* raw = sc.get();
      raw->ops.push_back([this, raw]() -> int {
        if (!raw->up) {
          raw->up.reset(ssh_channel_new(hop_->session()));
          if (!raw->up) return SSH_ERROR;
        }
        int rc = ssh_channel_open_session(raw->up.get());
        if (rc != SSH_OK) return rc;
        ssh_callbacks_init(&raw->upCb);
        raw->upCb.userdata = raw;
        raw->upCb.channel_data_function = &SshConnection::upDataThunk;
        raw->upCb.channel_eof_function = &SshConnection::upEofThunk;
        raw->upCb.channel_close_function = &SshConnection::upCloseThunk;
        raw->upCb.channel_exit_status_function = &SshConnection::exitStatusThunk;
        raw->upCb.channel_exit_signal_function = &SshConnection::exitSignalThunk;
        raw->upCb.channel_write_wontblock_function = &SshConnection::sessionWindowThunk;
        ssh_set_channel_callbacks(raw->up.get(), &raw->upCb);
        raw->opened = true;
        return SSH_OK;
      });
    }
    ssh_channel c = sc->client.get();
    sessions_.push_back(std::move(sc));
    return c;
  }

  static SessionChannel* sc(void* ud) { return static_cast<SessionChannel*>(ud); }
  static int clientDataThunk(ssh_session, ssh_channel, void* data, uint32_t len, int isStderr,
                             void* ud) {
    return sc(ud)->conn->onClientData(*sc(ud), static_cast<const char*>(data), len, isStderr);
  }
  static void clientEofThunk(ssh_session, ssh_channel, void* ud) { sc(ud)->clientEof = true; }
  static void clientCloseThunk(ssh_session, ssh_channel, void* ud) {
    sc(ud)->clientClosed = true;
    sc(ud)->clientEof = true;
  }
  static int ptyThunk(ssh_session, ssh_channel, const char* term, int w, int h, int pw, int ph,
                      void* ud) {
    auto* s = sc(ud);
    if (s->forwardOnly) return 0;
    if (s->ops.size() >= kMaxOps || (term && std::strlen(term) > 64)) return 1;
    std::string t = term ? term : "xterm";
    s->ops.push_back(
        [s, t, w, h]() { return ssh_channel_request_pty_size(s->up.get(), t.c_str(), w, h); });
    return 0;
  }
  static int shellThunk(ssh_session, ssh_channel, void* ud) {
    auto* s = sc(ud);
    if (s->started) return 1;
    s->started = true;
    if (s->forwardOnly) return s->conn->forwardOnlyNotice(*s);
    s->ops.push_back([s]() { return ssh_channel_request_shell(s->up.get()); });
    return 0;
  }
  static int execThunk(ssh_session, ssh_channel, const char* command, void* ud) {
    auto* s = sc(ud);
    if (s->started) return 1;
    s->started = true;
    if (s->forwardOnly) return s->conn->forwardOnlyNotice(*s);
    std::string cmd = command ? command : "";
    if (cmd.size() > 64 * 1024) return 1;
    s->ops.push_back([s, cmd]() { return ssh_channel_request_exec(s->up.get(), cmd.c_str()); });
    return 0;
  }
  static int subsystemThunk(ssh_session, ssh_channel, const char* name, void* ud) {
    auto* s = sc(ud);
    if (s->started || s->forwardOnly) return 1;
    s->started = true;
    std::string n = name ? name : "";
    s->ops.push_back([s, n]() { return ssh_channel_request_subsystem(s->up.get(), n.c_str()); });
    return 0;
  }
  // Only the locale travels (OpenSSH's default SendEnv); the target's
  // AcceptEnv has the last word.
  static int envThunk(ssh_session, ssh_channel, const char* name, const char* value, void* ud) {
    auto* s = sc(ud);
    std::string n = name ? name : "", v = value ? value : "";
    if (s->forwardOnly || !(n == "LANG" || n.rfind("LC_", 0) == 0) || n.size() > 64 ||
        v.size() > 256 || s->ops.size() >= kMaxOps)
      return 1;
    s->ops.push_back([s, n, v]() {
      int rc = ssh_channel_request_env(s->up.get(), n.c_str(), v.c_str());
      return rc == SSH_AGAIN ? SSH_AGAIN : SSH_OK;  // a refused variable is not fatal
    });
    return 0;
  }
  static int windowThunk(ssh_session, ssh_channel, int w, int h, int, int, void* ud) {
    auto* s = sc(ud);
    if (s->forwardOnly) return 0;
    if (s->ops.size() >= kMaxOps) return 1;
    s->ops.push_back([s, w, h]() {
      int rc = ssh_channel_change_pty_size(s->up.get(), w, h);
      return rc == SSH_AGAIN ? SSH_AGAIN : SSH_OK;
    });
    return 0;
  }
  static void signalThunk(ssh_session, ssh_channel, const char* signal, void* ud) {
    auto* s = sc(ud);
    if (s->forwardOnly || !signal || std::strlen(signal) > 32 || s->ops.size() >= kMaxOps) return;
    std::string sig = signal;
    s->ops.push_back([s, sig]() {
      int rc = ssh_channel_request_send_signal(s->up.get(), sig.c_str());
      return rc == SSH_AGAIN ? SSH_AGAIN : SSH_OK;
    });
  }
  // A window adjust arrived, possibly inside a nested poll after the
  // channel's progress stopped on a full window: make sure it runs again.
  static int sessionWindowThunk(ssh_session, ssh_channel, uint32_t, void* ud) {
    sc(ud)->conn->windowOpened();
    return 0;
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

  static int upDataThunk(ssh_session, ssh_channel, void* data, uint32_t len, int isStderr,
                         void* ud) {
    return sc(ud)->conn->onUpData(*sc(ud), static_cast<const char*>(data), len, isStderr);
  }
  static void upEofThunk(ssh_session, ssh_channel, void* ud) { sc(ud)->upEof = true; }
  static void upCloseThunk(ssh_session, ssh_channel, void* ud) {
    sc(ud)->upClosed = true;
    sc(ud)->upEof = true;
  }
  static void exitStatusThunk(ssh_session, ssh_channel, int status, void* ud) {
    sc(ud)->exitStatus = status;
  }
  static void exitSignalThunk(ssh_session, ssh_channel, const char* signal, int, const char*,
                              const char*, void* ud) {
    sc(ud)->exitSignal = signal ? signal : "KILL";
  }

  int forwardOnlyNotice(SessionChannel& s) {
    std::string text = "jitgate: " + user_ +
                       " is authenticated for forwarding only (ssh -J, ssh -N -L). For a shell "
                       "on a target, log in as " +
                       user_ + "@TARGET.\r\n";
    ssh_channel_write_stderr(s.client.get(), text.data(), static_cast<uint32_t>(text.size()));
    return 0;
  }

  // Client -> target, as much as the hop channel's window takes; the rest
  // stays in libssh's channel buffer (which holds back the client's window)
  // and is drained by progressSession().
  // Writes at most the receiving channel's window; returns what it took
  // (0 when the session cannot take data now, e.g. during a key re-exchange).
  static uint32_t writeSome(ssh_channel to, const char* data, size_t len, bool toStderr) {
    uint32_t n = static_cast<uint32_t>(std::min<size_t>(len, ssh_channel_window_size(to)));
    if (n == 0) return 0;
    int rc = toStderr ? ssh_channel_write_stderr(to, data, n) : ssh_channel_write(to, data, n);
    return rc > 0 ? static_cast<uint32_t>(rc) : 0;
  }

  // In the data callbacks, returning less than `len` leaves the rest in
  // libssh's channel buffer (holding back the sender's window); drain()
  // moves it on later. Nothing is taken while older bytes wait.
  int onClientData(SessionChannel& s, const char* data, uint32_t len, int isStderr) {
    if (s.forwardOnly) return static_cast<int>(len);  // nothing goes anywhere
    if (!s.opened || !s.ops.empty() || s.closedUp || !binding_.active() || !s.pendingUp.empty())
      return 0;
    uint32_t n = writeSome(s.up.get(), data, len, false);
    binding_.record().bytesToTarget += n;
    return static_cast<int>(n);
  }

  // The client's window alone does not bound what waits for it: a client
  // may advertise a huge window and stop reading. Counting what we handed
  // libssh for the client since its output buffer was last seen empty,
  // nothing more is taken for the client beyond kMaxUnsent.
  bool clientBacklogged() {
    if (!client_ || !(ssh_get_poll_flags(client_.get()) & SSH_WRITE_PENDING)) {
      unsentToClient_ = 0;
      return false;
    }
    return unsentToClient_ >= kMaxUnsent;
  }

  int onUpData(SessionChannel& s, const char* data, uint32_t len, int isStderr) {
    std::string& pending = isStderr ? s.pendingDownErr : s.pendingDown;
    if (s.closedClient || !binding_.active() || !pending.empty() || clientBacklogged()) return 0;
    uint32_t n = writeSome(s.client.get(), data, len, isStderr != 0);
    binding_.record().bytesFromTarget += n;
    unsentToClient_ += n;
    return static_cast<int>(n);
  }

  // Moves what libssh still holds for one direction, bounded by the
  // receiving channel's window; bytes read but not taken wait in `pending`.
  uint64_t drain(ssh_channel from, ssh_channel to, int isStderr, bool toStderr,
                 std::string& pending) {
    uint64_t moved = 0;
    for (int i = 0; i < 16; ++i) {
      if (!pending.empty()) {
        uint32_t w = writeSome(to, pending.data(), pending.size(), toStderr);
        pending.erase(0, w);
        moved += w;
        if (!pending.empty()) break;
      }
      int avail = ssh_channel_poll(from, isStderr);
      uint32_t win = ssh_channel_window_size(to);
      if (avail <= 0 || win == 0) break;
      pending.resize(std::min<size_t>({static_cast<size_t>(avail), win, kRelayChunk}));
      int n = ssh_channel_read_nonblocking(from, pending.data(),
                                           static_cast<uint32_t>(pending.size()), isStderr);
      pending.resize(n > 0 ? static_cast<size_t>(n) : 0);
      if (n <= 0) break;
    }
    return moved;
  }

  void progressSession(SessionChannel& s) {
    if (s.done) return;
    if (s.forwardOnly) {
      if (s.clientClosed || s.clientEof) {
        if (!s.closedClient) ssh_channel_close(s.client.get());
        s.closedClient = true;
        s.done = s.clientClosed;
      }
      return;
    }
    if (hop_ && hop_->state() == SshHop::State::Ready) {
      while (!s.ops.empty() && !s.closedUp) {
        int rc = s.ops.front()();
        if (rc == SSH_AGAIN) break;
        if (rc != SSH_OK) {
          std::string text = "jitgate: the target refused the request: " +
                             printable(ssh_get_error(hop_->session()), 200) + "\r\n";
          ssh_channel_write_stderr(s.client.get(), text.data(), static_cast<uint32_t>(text.size()));
          s.ops.clear();
          s.upClosed = s.upEof = true;
          if (!s.exitStatus) s.exitStatus = 1;
          break;
        }
        s.ops.pop_front();
      }
    }
    if (s.opened && s.ops.empty() && !s.closedUp) {
      binding_.record().bytesToTarget += drain(s.client.get(), s.up.get(), 0, false, s.pendingUp);
      if (s.clientEof && !s.eofSentUp && s.pendingUp.empty() &&
          ssh_channel_poll(s.client.get(), 0) <= 0) {
        ssh_channel_send_eof(s.up.get());
        s.eofSentUp = true;
      }
      if (s.clientClosed && s.eofSentUp) {  // what the client sent went first
        ssh_channel_close(s.up.get());
        s.closedUp = true;
      }
    }
    if (s.opened && !s.closedClient && !clientBacklogged()) {
      uint64_t moved = drain(s.up.get(), s.client.get(), 0, false, s.pendingDown) +
                       drain(s.up.get(), s.client.get(), 1, true, s.pendingDownErr);
      binding_.record().bytesFromTarget += moved;
      unsentToClient_ += moved;
    }
    bool upDrained =
        !s.opened || (s.pendingDown.empty() && s.pendingDownErr.empty() &&
                      ssh_channel_poll(s.up.get(), 0) <= 0 && ssh_channel_poll(s.up.get(), 1) <= 0);
    if (s.upEof && upDrained && !s.closedClient) {
      if (!s.eofSentClient) {
        ssh_channel_send_eof(s.client.get());
        s.eofSentClient = true;
      }
      if (s.upClosed) {
        if (s.exitStatus)
          ssh_channel_request_send_exit_status(s.client.get(), *s.exitStatus);
        else if (s.exitSignal)
          ssh_channel_request_send_exit_signal(s.client.get(), s.exitSignal->c_str(), 0, "", "");
        ssh_channel_close(s.client.get());
        s.closedClient = true;
      }
    }
    if (s.clientClosed && !s.closedClient) {
      ssh_channel_close(s.client.get());
      s.closedClient = true;
    }
    if (s.clientClosed && !s.opened) s.done = true;
    if (s.closedClient && (s.closedUp || s.upClosed)) {
      if (!s.closedUp && s.up) {
        ssh_channel_close(s.up.get());
        s.closedUp = true;
      }
      s.done = true;
    }
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
    auto target = front_->engine.findTarget(host);
    if (!target)
      return refuse(printable(host, 64), SessionRefusal::UnknownTarget,
                    "no enrolled target named or at '" + printable(host, 64) + "'");
    auto d = front_->engine.decide(user_, target->name, static_cast<uint16_t>(port), sourceIp_);
    if (!d.allowed) return refuse(target->name, d.reason, d.message);
    if (liveForwards() >= 64)
      return refuse(target->name, SessionRefusal::TooManyChannels,
                    "at most 64 forwarded channels at once");
    ssh_channel ch = ssh_message_channel_request_open_reply_accept(msg);
    if (!ch) return;
    auto f = std::make_shared<ForwardChannel>(io_, front_->engine, front_->registry);
    f->conn = this;
    f->ch.reset(ch);
    f->host = target->address;
    f->port = static_cast<uint16_t>(port);
    ssh_callbacks_init(&f->cb);
    f->cb.userdata = f.get();
    f->cb.channel_data_function = &SshConnection::fwdDataThunk;
    f->cb.channel_write_wontblock_function = [](ssh_session, ssh_channel, uint32_t, void* ud) {
      static_cast<ForwardChannel*>(ud)->conn->windowOpened();
      return 0;
    };
    f->cb.channel_eof_function = [](ssh_session, ssh_channel, void* ud) {
      static_cast<ForwardChannel*>(ud)->clientEof = true;
    };
    f->cb.channel_close_function = [](ssh_session, ssh_channel, void* ud) {
      auto* fc = static_cast<ForwardChannel*>(ud);
      fc->clientClosed = fc->clientEof = true;
    };
    ssh_set_channel_callbacks(ch, &f->cb);
    SessionRecord rec;
    rec.front = "ssh-forward";
    rec.user = user_;
    rec.target = target->name;
    rec.port = static_cast<uint16_t>(port);
    rec.source = source_;
    rec.grantId = d.grantId;
    forwards_.push_back(f);
    bind(f->binding, rec, d, f);
    connectForward(f);
  }

  static int fwdDataThunk(ssh_session, ssh_channel, void* data, uint32_t len, int, void* ud) {
    auto* f = static_cast<ForwardChannel*>(ud);
    return f->conn->onForwardData(*f, static_cast<const char*>(data), len);
  }

  void connectForward(const std::shared_ptr<ForwardChannel>& f) {
    auto self = shared_from_this();
    f->connectTimer.expires_after(front_->options.connectTimeout);
    f->connectTimer.async_wait([self, f](const boost::system::error_code& ec) {
      if (ec || f->connected || f->done) return;
      f->resolver.cancel();
      boost::system::error_code ignored;
      f->socket.close(ignored);
    });
    f->resolver.async_resolve(
        f->host, std::to_string(f->port),
        [self, f](const boost::system::error_code& ec, tcp::resolver::results_type results) {
          if (f->done) return;
          if (ec) return self->forwardFailed(*f, "cannot resolve " + f->host + ": " + ec.message());
          asio::async_connect(f->socket, results,
                              [self, f](const boost::system::error_code& ec, const tcp::endpoint&) {
                                if (f->done) return;
                                if (ec)
                                  return self->forwardFailed(*f, "cannot connect to " + f->host +
                                                                     ":" + std::to_string(f->port) +
                                                                     ": " + ec.message());
                                f->connectTimer.cancel();
                                f->connected = true;
                                boost::system::error_code opt;
                                f->socket.non_blocking(true, opt);
                                if (!opt) f->socket.set_option(tcp::no_delay(true), opt);
                                if (opt) return self->forwardFailed(*f, "socket: " + opt.message());
                                self->front_->record(connectEntry(f->binding.record()));
                                self->pump();
                              });
        });
  }

  void forwardFailed(ForwardChannel& f, const std::string& why) {
    spdlog::info("ssh: {} forward {}:{}: {}", user_, f.host, f.port, why);
    endForward(f, EndReason::Error, why, "");
    pump();
  }

  int onForwardData(ForwardChannel& f, const char* data, uint32_t len) {
    if (!f.connected || f.done || f.shutdownSent || !f.outPending.empty()) return 0;
    boost::system::error_code ec;
    size_t n = f.socket.write_some(asio::buffer(data, len), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again)
      n = 0;
    else if (ec) {
      endForward(f, EndReason::TargetClosed, "", "");
      return 0;
    }
    f.binding.record().bytesToTarget += n;
    if (n < len) waitForwardWritable(f);
    return static_cast<int>(n);
  }

  void waitForwardWritable(ForwardChannel& f) {
    if (f.writeWaiting || f.done) return;
    f.writeWaiting = true;
    f.socket.async_wait(tcp::socket::wait_write, [self = shared_from_this(), fp = sharedForward(f)](
                                                     const boost::system::error_code& ec) {
      fp->writeWaiting = false;
      if (!ec) self->pump();
    });
  }

  // Target -> client while the channel's window allows; client -> target
  // from what libssh holds when the socket can take it.
  void progressForward(ForwardChannel& f) {
    if (f.done || !f.connected) return;
    boost::system::error_code ec;
    // Client -> target.
    for (int i = 0; i < 16 && !f.shutdownSent; ++i) {
      if (f.outPending.empty()) {
        int avail = ssh_channel_poll(f.ch.get(), 0);
        if (avail <= 0) break;
        f.outPending.resize(std::min<size_t>(static_cast<size_t>(avail), kRelayChunk));
        int n = ssh_channel_read_nonblocking(f.ch.get(), f.outPending.data(),
                                             static_cast<uint32_t>(f.outPending.size()), 0);
        if (n <= 0) {
          f.outPending.clear();
          break;
        }
        f.outPending.resize(static_cast<size_t>(n));
      }
      size_t w = f.socket.write_some(asio::buffer(f.outPending), ec);
      if (ec == asio::error::would_block || ec == asio::error::try_again) {
        waitForwardWritable(f);
        break;
      }
      if (ec) return endForward(f, EndReason::TargetClosed, "", "");
      f.binding.record().bytesToTarget += w;
      f.outPending.erase(f.outPending.begin(), f.outPending.begin() + static_cast<long>(w));
      if (!f.outPending.empty()) {
        waitForwardWritable(f);
        break;
      }
    }
    if (f.clientEof && !f.shutdownSent && f.outPending.empty() &&
        ssh_channel_poll(f.ch.get(), 0) <= 0) {
      f.socket.shutdown(tcp::socket::shutdown_send, ec);
      f.shutdownSent = true;
    }
    // Target -> client. The socket is read only while the channel's window
    // is open and nothing read earlier still waits.
    size_t budget = 4 * kRelayChunk;
    while (!f.closedClient && budget > 0) {
      if (!f.inPending.empty()) {
        uint32_t w = writeSome(f.ch.get(), f.inPending.data(), f.inPending.size(), false);
        f.inPending.erase(0, w);
        f.binding.record().bytesFromTarget += w;
        unsentToClient_ += w;
        budget -= std::min<size_t>(budget, w);
        if (!f.inPending.empty()) break;  // resumes when the window opens again
      }
      if (f.tcpEof) break;
      if (clientBacklogged()) break;  // resumes when libssh has sent it
      uint32_t win = ssh_channel_window_size(f.ch.get());
      if (win == 0) break;  // resumes when the client's window adjust arrives
      size_t want = std::min<size_t>({win, f.buf.size(), budget});
      size_t n = f.socket.read_some(asio::buffer(f.buf.data(), want), ec);
      if (ec == asio::error::would_block || ec == asio::error::try_again) {
        waitForwardReadable(f);
        break;
      }
      if (ec == asio::error::eof) {
        f.tcpEof = true;
        break;
      }
      if (ec) return endForward(f, EndReason::TargetClosed, "", "");
      f.inPending.assign(f.buf.data(), n);
    }
    if (budget == 0) asio::post(io_, [self = shared_from_this()] { self->pump(); });
    if (f.tcpEof && f.inPending.empty() && !f.eofSentClient && !f.closedClient) {
      ssh_channel_send_eof(f.ch.get());
      f.eofSentClient = true;
    }
    // After the client's close, what it sent before still goes to the target.
    bool upDelivered = f.shutdownSent;
    if ((f.clientClosed && upDelivered) || (f.tcpEof && f.inPending.empty() && f.shutdownSent)) {
      EndReason why = f.clientClosed ? EndReason::ClientClosed : EndReason::TargetClosed;
      endForward(f, why, "", "");
    }
  }

  void waitForwardReadable(ForwardChannel& f) {
    if (f.readWaiting || f.done) return;
    f.readWaiting = true;
    f.socket.async_wait(tcp::socket::wait_read, [self = shared_from_this(), fp = sharedForward(f)](
                                                    const boost::system::error_code& ec) {
      fp->readWaiting = false;
      if (!ec) self->pump();
    });
  }

  std::shared_ptr<ForwardChannel> sharedForward(ForwardChannel& f) {
    for (auto& p : forwards_)
      if (p.get() == &f) return p;
    return nullptr;
  }

  void endForward(ForwardChannel& f, EndReason why, const std::string& note,
                  const std::string& userMessage) {
    if (f.done) return;
    f.done = true;
    if (!f.closedClient) {
      ssh_channel_close(f.ch.get());
      f.closedClient = true;
    }
    boost::system::error_code ec;
    f.connectTimer.cancel();
    f.resolver.cancel();
    f.socket.close(ec);
    unbind(f.binding, why, note, f.connected);
  }

  size_t liveForwards() const {
    return static_cast<size_t>(
        std::count_if(forwards_.begin(), forwards_.end(), [](const auto& f) { return !f->done; }));
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
    bind(binding_, rec, d, std::shared_ptr<ForwardChannel>());
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
    std::weak_ptr<SshConnection> weak = weak_from_this();
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
            const std::shared_ptr<ForwardChannel>& f) {
    std::weak_ptr<SshConnection> weak = weak_from_this();
    std::weak_ptr<ForwardChannel> wf = f;
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
  void cut(ForwardChannel* f, EndReason why, SysTime at) {
    if (closed_) return;
    const auto& rec = f ? f->binding.record() : binding_.record();
    auto message = endMessage(rec.target, at, why);
    spdlog::info("ssh: cutting {} on {} from {}: {}", rec.user, rec.target, source_, message);
    if (f) {
      endForward(*f, why, "", message);
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
    for (auto& s : sessions_)
      if (!s->done && !s->closedClient)
        ssh_channel_write_stderr(s->client.get(), text.data(), static_cast<uint32_t>(text.size()));
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

  // --- The loop --------------------------------------------------------------
  void pump() {
    if (closed_ || !client_) return;
    auto self = shared_from_this();  // callbacks may end us
    for (int round = 0; round < kPumpRounds && !closed_; ++round) {
      step();
      if (closed_) return;
      bool more = clientFd_.inputPending() || (hop_ && hop_->watch().inputPending());
      if (!more) break;
      if (round == kPumpRounds - 1) asio::post(io_, [self] { self->pump(); });
    }
    if (!closed_) arm();
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
        for (auto& s : sessions_) s->upClosed = s->upEof = true;
        targetGone_ = true;
      }
    }
    // By index: libssh may run our callbacks from inside these calls (its
    // flushes and polls), and a callback may add a channel to either list.
    for (size_t i = 0; i < sessions_.size() && !closed_; ++i) progressSession(*sessions_[i]);
    for (size_t i = 0; i < forwards_.size() && !closed_; ++i) {
      auto f = forwards_[i];  // kept alive through the call
      progressForward(*f);
    }
    if (closed_) return;
    sessions_.erase(
        std::remove_if(sessions_.begin(), sessions_.end(), [](const auto& s) { return s->done; }),
        sessions_.end());
    for (size_t i = 0; i < forwards_.size(); ++i)
      if (forwards_[i]->done) forwards_[i]->releaseChannel();
    forwards_.erase(
        std::remove_if(forwards_.begin(), forwards_.end(), [](const auto& f) { return f->done; }),
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
      for (size_t i = 0; i < sessions_.size(); ++i)
        if (auto& s = sessions_[i]; !s->closedClient && s->client)
          ssh_channel_write_stderr(s->client.get(), line.data(),
                                   static_cast<uint32_t>(line.size()));
      ssh_session_set_disconnect_message(client_.get(), message.c_str());
    }
    unbind(binding_, why, "", hop_ && hop_->state() == SshHop::State::Ready);
    for (size_t i = 0; i < forwards_.size(); ++i) {
      auto f = forwards_[i];
      endForward(*f, why, "", "");
    }
    teardown();
    finish();
  }

  void teardown() {
    closed_ = true;  // callbacks libssh still runs from here on refuse everything
    if (client_) ssh_set_message_callback(client_.get(), nullptr, nullptr);
    grace_.cancel();
    binding_.unbind();
    boost::system::error_code ec;
    for (auto& f : forwards_) {
      f->connectTimer.cancel();
      f->resolver.cancel();
      f->socket.close(ec);
      f->releaseChannel();  // handlers may keep the object; the channel dies with its session
    }
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

  // Our descriptor keeps the socket open after libssh closed its own: send
  // FIN after the disconnect message and read what the client still sends,
  // so that the kernel does not answer it with a reset that would destroy
  // the message before the client reads it.
  static void lingerClose(asio::posix::stream_descriptor fd) {
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
  std::vector<std::unique_ptr<SessionChannel>> sessions_;
  std::vector<std::shared_ptr<ForwardChannel>> forwards_;

 public:
  bool countedUnauth_ = true;
};

}  // namespace

void SshFront::Shared::accept() {
  acceptor.async_accept(
      [self = shared_from_this()](const boost::system::error_code& ec, tcp::socket socket) {
        if (self->stopping || ec == asio::error::operation_aborted) return;
        if (!ec)
          self->onAccept(std::move(socket));
        else
          spdlog::warn("ssh: accept: {}", ec.message());
        self->accept();
      });
}

void SshFront::Shared::onAccept(tcp::socket socket) {
  boost::system::error_code ec;
  auto remote = socket.remote_endpoint(ec);
  if (ec) return;
  auto ip = IpAddress::parse(remote.address().to_string());
  if (!ip) return;
  std::string source = ip->toString();
  std::string why;
  if (unauthenticated >= static_cast<size_t>(options.maxUnauthenticated))
    why = "too many unauthenticated connections (max_unauthenticated " +
          std::to_string(options.maxUnauthenticated) + ")";
  else if (unauthenticatedBySource[source] >= options.maxPerSource)
    why = "too many unauthenticated connections from " + source + " (max_per_source " +
          std::to_string(options.maxPerSource) + ")";
  if (!why.empty()) {
    if (unauthenticatedBySource[source] == 0) unauthenticatedBySource.erase(source);
    recordPreAuth(
        refusalEntry("ssh", "", "", std::nullopt, source, SessionRefusal::ConnectionLimit, why));
    socket.close(ec);
    return;
  }
  ++unauthenticated;
  ++unauthenticatedBySource[source];
  auto conn = std::make_shared<SshConnection>(shared_from_this(), source, *ip);
  connections.emplace(conn.get(), conn);
  conn->start(std::move(socket));
}

// --- SshFront -------------------------------------------------------------------

namespace {

Status loadOrCreateHostKey(const std::string& path, std::string& fingerprint) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno != ENOENT) return invalid("ssh host key", path + ": " + std::strerror(errno));
    ssh_key key = nullptr;
    if (ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &key) != SSH_OK || !key)
      return invalid("ssh host key", "cannot generate an Ed25519 key");
    SshKeyPtr owned(key);
    char* b64 = nullptr;
    if (ssh_pki_export_privkey_base64(key, nullptr, nullptr, nullptr, &b64) != SSH_OK || !b64)
      return invalid("ssh host key", "cannot export the new key");
    std::string pem(b64);
    OPENSSL_cleanse(b64, pem.size());
    ssh_string_free_char(b64);
    auto written = writeFileAtomically(path, pem, 0600);
    OPENSSL_cleanse(pem.data(), pem.size());
    if (!written) return written;
    spdlog::info("ssh: made host key {}", path);
  } else {
    if (!S_ISREG(st.st_mode)) return invalid("ssh host key", path + " is not a regular file");
    if (st.st_uid != ::geteuid())
      return invalid("ssh host key", path + " is owned by another user");
    if (st.st_mode & (S_IRWXG | S_IRWXO))
      return invalid("ssh host key", path + " must not be readable by group or others (chmod 600)");
  }
  ssh_key key = nullptr;
  if (ssh_pki_import_privkey_file(path.c_str(), nullptr, nullptr, nullptr, &key) != SSH_OK || !key)
    return invalid("ssh host key", path + " is not a readable private key");
  SshKeyPtr owned(key);
  auto blob = keyBlob(key);
  if (!blob) return blob.refusal();
  fingerprint = sshFingerprint(*blob);
  return okStatus();
}

}  // namespace

Result<std::unique_ptr<SshFront>> SshFront::open(asio::io_context& io, GrantEngine& engine,
                                                 CertificateAuthority& authority,
                                                 SessionRegistry& registry,
                                                 SshFrontOptions options) {
  auto shared = std::make_shared<Shared>(io, engine, authority, registry, options);
  shared->listener_ = engine.subscribe([weak = std::weak_ptr<Shared>(shared)](const GrantEnded&) {
    if (auto s = weak.lock()) s->identities.markStale();
  });
  std::string hostKey = options.stateDir + "/ssh_host_ed25519_key";
  if (auto st = loadOrCreateHostKey(hostKey, shared->hostKeyFingerprint); !st) return st.refusal();
  shared->bind.reset(ssh_bind_new());
  if (!shared->bind) return invalid("ssh", "out of memory");
  std::string banner = std::string("jitgate_") + JITGATE_VERSION;
  int logLevel = SSH_LOG_NOLOG;
  if (ssh_bind_options_set(shared->bind.get(), SSH_BIND_OPTIONS_HOSTKEY, hostKey.c_str()) !=
          SSH_OK ||
      ssh_bind_options_set(shared->bind.get(), SSH_BIND_OPTIONS_BANNER, banner.c_str()) != SSH_OK ||
      ssh_bind_options_set(shared->bind.get(), SSH_BIND_OPTIONS_LOG_VERBOSITY, &logLevel) !=
          SSH_OK ||
      ssh_bind_options_set(shared->bind.get(), SSH_BIND_OPTIONS_CIPHERS_C_S, kFrontCiphers) !=
          SSH_OK ||
      ssh_bind_options_set(shared->bind.get(), SSH_BIND_OPTIONS_CIPHERS_S_C, kFrontCiphers) !=
          SSH_OK)
    return invalid("ssh", std::string("libssh: ") + ssh_get_error(shared->bind.get()));

  boost::system::error_code ec;
  auto addr = asio::ip::make_address(options.listen.host, ec);
  if (ec) return invalid("ssh.listen", "'" + options.listen.host + "' is not an IP address");
  tcp::endpoint ep(addr, options.listen.port);
  shared->acceptor.open(ep.protocol(), ec);
  if (!ec) shared->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) shared->acceptor.bind(ep, ec);
  if (!ec) shared->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return invalid("ssh.listen", options.listen.toString() + ": " + ec.message());
  return std::unique_ptr<SshFront>(new SshFront(std::move(shared)));
}

SshFront::SshFront(std::shared_ptr<Shared> shared) : shared_(std::move(shared)) {}

SshFront::~SshFront() {
  stop();
  shared_->engine.unsubscribe(shared_->listener_);
}

tcp::endpoint SshFront::localEndpoint() const {
  boost::system::error_code ec;
  return shared_->acceptor.local_endpoint(ec);
}

std::string SshFront::hostKeyFingerprint() const { return shared_->hostKeyFingerprint; }

void SshFront::start() { shared_->accept(); }

void SshFront::stop() {
  if (shared_->stopping) return;
  shared_->stopping = true;
  boost::system::error_code ec;
  shared_->acceptor.close(ec);
  std::vector<std::shared_ptr<SshConnection>> live;
  for (auto& [raw, weak] : shared_->connections)
    if (auto c = weak.lock()) live.push_back(std::move(c));
  for (auto& c : live) c->shutdown(EndReason::Shutdown);
  shared_->connections.clear();
  shared_->flushAudit();
}

SshFrontStats SshFront::stats() const {
  return {shared_->connections.size(), shared_->unauthenticated};
}

}  // namespace jitgate
