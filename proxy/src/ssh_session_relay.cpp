// A terminating session channel and its twin on the hop (ssh_session_relay.hpp).
#include "ssh_session_relay.hpp"

#include <algorithm>
#include <cstring>

#include "jitgate/recording/transfer_command.hpp"
#include "jitgate/text.hpp"

namespace jitgate {

namespace {
constexpr size_t kRelayChunk = 64 * 1024;
constexpr size_t kMaxOps = 64;  // requests queued for a hop channel not yet open
}  // namespace

uint32_t writeSome(ssh_channel to, const char* data, size_t len, bool toStderr) {
  uint32_t n = static_cast<uint32_t>(std::min<size_t>(len, ssh_channel_window_size(to)));
  if (n == 0) return 0;
  int rc = toStderr ? ssh_channel_write_stderr(to, data, n) : ssh_channel_write(to, data, n);
  return rc > 0 ? static_cast<uint32_t>(rc) : 0;
}

SshSessionRelay::SshSessionRelay(SshRelayHost& host, ssh_session client, bool forwardOnly,
                                 std::string user)
    : host_(host), forwardOnly_(forwardOnly), user_(std::move(user)) {
  client_.reset(ssh_channel_new(client));
  if (!client_) return;
  ssh_callbacks_init(&clientCb_);
  clientCb_.userdata = this;
  clientCb_.channel_data_function = [](ssh_session, ssh_channel, void* data, uint32_t len, int,
                                       void* ud) {
    return self(ud)->onClientData(static_cast<const char*>(data), len);
  };
  clientCb_.channel_eof_function = [](ssh_session, ssh_channel, void* ud) {
    raise(self(ud)->fromClient_, Heard::Eof);
    self(ud)->host_.wake();
  };
  clientCb_.channel_close_function = [](ssh_session, ssh_channel, void* ud) {
    raise(self(ud)->fromClient_, Heard::Closed);
    self(ud)->host_.wake();
  };
  clientCb_.channel_pty_request_function = [](ssh_session, ssh_channel, const char* term, int w,
                                              int h, int, int, void* ud) {
    auto* s = self(ud);
    if (s->forwardOnly_) return 0;
    if (s->ops_.size() >= kMaxOps || (term && std::strlen(term) > 64)) return 1;
    std::string t = term ? term : "xterm";
    if (w > 0 && w <= 1000 && h > 0 && h <= 1000) {
      s->width_ = w;
      s->height_ = h;
    }
    s->term_ = printable(t, 64);
    s->pty_ = true;
    s->ops_.push_back(
        [s, t, w, h]() { return ssh_channel_request_pty_size(s->up_.get(), t.c_str(), w, h); });
    return 0;
  };
  clientCb_.channel_shell_request_function = [](ssh_session, ssh_channel, void* ud) {
    auto* s = self(ud);
    if (s->started_) return 1;
    s->started_ = true;
    if (s->forwardOnly_) return s->forwardOnlyRefusal(true);
    if (!s->startRecording("shell", "")) return s->refuseUnrecorded();
    s->ops_.push_back([s]() { return ssh_channel_request_shell(s->up_.get()); });
    return 0;
  };
  clientCb_.channel_exec_request_function = [](ssh_session, ssh_channel, const char* command,
                                               void* ud) {
    auto* s = self(ud);
    if (s->started_) return 1;
    s->started_ = true;
    if (s->forwardOnly_ && !s->host_.offersCommands()) return s->forwardOnlyRefusal(true);
    std::string cmd = command ? command : "";
    if (s->forwardOnly_) {
      // Run by the host outside this callback; one byte over the limit is
      // enough for the interface to refuse it.
      s->command_ = cmd.substr(0, kMaxCommandLine + 1);
      s->host_.commandQueued();
      return 0;
    }
    if (cmd.size() > 64 * 1024) return 1;
    bool recordable = s->startRecording("exec", cmd);
    s->host_.audit(commandEntry(s->host_.record(), "exec", cmd, s->rec_ ? s->rec_->id() : ""));
    if (!recordable) return s->refuseUnrecorded();
    s->ops_.push_back([s, cmd]() { return ssh_channel_request_exec(s->up_.get(), cmd.c_str()); });
    return 0;
  };
  clientCb_.channel_subsystem_request_function = [](ssh_session, ssh_channel, const char* name,
                                                    void* ud) {
    auto* s = self(ud);
    if (s->started_) return 1;
    s->started_ = true;
    if (s->forwardOnly_) return s->forwardOnlyRefusal(false);
    std::string n = name ? name : "";
    s->host_.audit(commandEntry(s->host_.record(), "subsystem", n));
    s->ops_.push_back([s, n]() { return ssh_channel_request_subsystem(s->up_.get(), n.c_str()); });
    return 0;
  };
  // Only the locale travels (OpenSSH's default SendEnv); the target's
  // AcceptEnv has the last word.
  clientCb_.channel_env_request_function = [](ssh_session, ssh_channel, const char* name,
                                              const char* value, void* ud) {
    auto* s = self(ud);
    std::string n = name ? name : "", v = value ? value : "";
    if (s->forwardOnly_ || !(n == "LANG" || n.rfind("LC_", 0) == 0) || n.size() > 64 ||
        v.size() > 256 || s->ops_.size() >= kMaxOps)
      return 1;
    s->ops_.push_back([s, n, v]() {
      int rc = ssh_channel_request_env(s->up_.get(), n.c_str(), v.c_str());
      return rc == SSH_AGAIN ? SSH_AGAIN : SSH_OK;  // a refused variable is not fatal
    });
    return 0;
  };
  clientCb_.channel_pty_window_change_function = [](ssh_session, ssh_channel, int w, int h, int,
                                                    int, void* ud) {
    auto* s = self(ud);
    if (s->forwardOnly_) return 0;
    if (s->ops_.size() >= kMaxOps) return 1;
    if (s->rec_) s->rec_->resize(w, h);
    s->ops_.push_back([s, w, h]() {
      int rc = ssh_channel_change_pty_size(s->up_.get(), w, h);
      return rc == SSH_AGAIN ? SSH_AGAIN : SSH_OK;
    });
    return 0;
  };
  clientCb_.channel_signal_function = [](ssh_session, ssh_channel, const char* signal, void* ud) {
    auto* s = self(ud);
    if (s->forwardOnly_ || !signal || std::strlen(signal) > 32 || s->ops_.size() >= kMaxOps) return;
    std::string sig = signal;
    s->ops_.push_back([s, sig]() {
      int rc = ssh_channel_request_send_signal(s->up_.get(), sig.c_str());
      return rc == SSH_AGAIN ? SSH_AGAIN : SSH_OK;
    });
  };
  // Agent forwarding is not offered: the target would reach the user's agent
  // through the bastion. libssh answers a want-reply request SUCCESS once
  // this callback exists (OpenSSH, paramiko and asyncssh ask without one);
  // no agent channel is ever opened towards the client either way.
  clientCb_.channel_auth_agent_req_function = [](ssh_session, ssh_channel, void* ud) {
    self(ud)->tell(
        "jitgate: agent forwarding (ssh -A) is not offered through the bastion: the target "
        "would reach your agent. Keys stay with you; use ssh -J for hops beyond the target.\r\n");
  };
  // A window adjust arrived, possibly inside a nested poll after the
  // channel's progress stopped on a full window: make sure it runs again.
  clientCb_.channel_write_wontblock_function = [](ssh_session, ssh_channel, uint32_t, void* ud) {
    self(ud)->host_.wake();
    return 0;
  };
  ssh_set_channel_callbacks(client_.get(), &clientCb_);
  if (!forwardOnly_) ops_.push_back([this] { return openUp(); });
}

// libssh keeps a freed channel until the peer's close arrives; it must not
// call back into a relay that is gone.
SshSessionRelay::~SshSessionRelay() {
  endRecording();
  if (client_) ssh_remove_channel_callbacks(client_.get(), &clientCb_);
  if (up_) ssh_remove_channel_callbacks(up_.get(), &upCb_);
}

int SshSessionRelay::openUp() {
  if (!up_) {
    up_.reset(ssh_channel_new(hop_));
    if (!up_) return SSH_ERROR;
  }
  int rc = ssh_channel_open_session(up_.get());
  if (rc != SSH_OK) return rc;
  ssh_callbacks_init(&upCb_);
  upCb_.userdata = this;
  upCb_.channel_data_function = [](ssh_session, ssh_channel, void* data, uint32_t len, int isStderr,
                                   void* ud) {
    return self(ud)->onUpData(static_cast<const char*>(data), len, isStderr);
  };
  upCb_.channel_eof_function = [](ssh_session, ssh_channel, void* ud) {
    self(ud)->heardUpEnd(UpEnd(UpEnd::Kind::Eof));
  };
  upCb_.channel_close_function = [](ssh_session, ssh_channel, void* ud) {
    self(ud)->heardUpEnd(UpEnd(UpEnd::Kind::Close));
  };
  upCb_.channel_exit_status_function = [](ssh_session, ssh_channel, int status, void* ud) {
    self(ud)->heardUpEnd(UpEnd(UpEnd::Kind::ExitStatus, status));
  };
  upCb_.channel_exit_signal_function = [](ssh_session, ssh_channel, const char* signal, int core,
                                          const char* message, const char*, void* ud) {
    // The signal's name and message reach the client's terminal: printable,
    // bounded (RFC 4254 6.10: a name without "SIG").
    std::string name = printable(signal ? signal : "", 32);
    if (name.empty()) name = "KILL";
    self(ud)->heardUpEnd(
        UpEnd(UpEnd::Kind::ExitSignal, 0, name, printable(message ? message : "", 256), core != 0));
  };
  upCb_.channel_write_wontblock_function = clientCb_.channel_write_wontblock_function;
  ssh_set_channel_callbacks(up_.get(), &upCb_);
  stage_ = Stage::Relaying;
  return SSH_OK;
}

// A shell, command or subsystem on a login without a target. A shell or a
// command is answered by the bastion itself, as a command that prints the
// reason on stderr and exits 1 (clients show both; OpenSSH drops stderr that
// came before a FAILURE); a subsystem gets the reason and FAILURE, since its
// client would read the text as protocol. Either way the channel then ends.
int SshSessionRelay::forwardOnlyRefusal(bool asCommand) {
  std::string text = "jitgate: " + user_ +
                     " is authenticated for forwarding only (ssh -J, ssh -N -L). For a shell "
                     "on a target, log in as " +
                     user_ + "@TARGET.\r\n";
  ssh_channel_write_stderr(client_.get(), text.data(), static_cast<uint32_t>(text.size()));
  if (!asCommand) return 1;
  heardUpEnd(UpEnd(UpEnd::Kind::Eof));
  heardUpEnd(UpEnd(UpEnd::Kind::ExitStatus, 1));
  heardUpEnd(UpEnd(UpEnd::Kind::Close));
  return 0;
}

std::optional<std::string> SshSessionRelay::takeCommand() {
  auto c = std::move(command_);
  command_.reset();
  return c;
}

void SshSessionRelay::answer(ShellAnswer a) {
  if (stage_ == Stage::Done || toClient_ == Told::Closed) return;
  pendingDown_ = std::move(a.out);
  pendingDownErr_ = std::move(a.err);
  heardUpEnd(UpEnd(UpEnd::Kind::Eof));
  heardUpEnd(UpEnd(UpEnd::Kind::ExitStatus, a.exitStatus));
  heardUpEnd(UpEnd(UpEnd::Kind::Close));
}

void SshSessionRelay::flushAnswer() {
  if (toClient_ == Told::Closed || !client_) return;
  for (int i = 0; i < 16; ++i) {
    bool moved = false;
    for (std::string* p : {&pendingDown_, &pendingDownErr_}) {
      if (p->empty()) continue;
      uint32_t w = writeSome(client_.get(), p->data(), std::min(p->size(), kRelayChunk),
                             p == &pendingDownErr_);
      p->erase(0, w);
      moved = moved || w > 0;
    }
    if (!moved) break;
  }
}

void SshSessionRelay::heardUpEnd(UpEnd e) {
  if (upCloseHeard_) return;  // nothing counts after the close
  if (e.kind == UpEnd::Kind::Eof) {
    if (fromUp_ != Heard::Open) return;  // one EOF
    raise(fromUp_, Heard::Eof);
  }
  if (e.kind == UpEnd::Kind::Close) {
    raise(fromUp_, Heard::Closed);
    upCloseHeard_ = true;
  }
  if ((e.kind == UpEnd::Kind::ExitStatus || e.kind == UpEnd::Kind::ExitSignal) &&
      upEnds_.size() >= 8)
    return;  // a target repeating itself is not queued without bound
  upEnds_.push_back(std::move(e));
  // Heard maybe inside a libssh call made for another channel, after this
  // relay's progress() ran in this round: relayed in the next round.
  host_.wake();
}

// The target's end reaches the client in the target's order, each part once
// what came before it has gone (or the client has closed and takes no more
// data): so an exit status is always sent before the close that ends the
// channel, even when the client closed first.
void SshSessionRelay::relayUpEnds(bool upDrained) {
  bool clientClosed = fromClient_ == Heard::Closed;
  while (!upEnds_.empty() && toClient_ != Told::Closed && (upDrained || clientClosed)) {
    UpEnd e = std::move(upEnds_.front());
    upEnds_.pop_front();
    switch (e.kind) {
      case UpEnd::Kind::Eof:
        if (toClient_ == Told::Open && !clientClosed) {
          ssh_channel_send_eof(client_.get());
          toClient_ = Told::Eof;
        }
        break;
      case UpEnd::Kind::ExitStatus:
        ssh_channel_request_send_exit_status(client_.get(), e.status);
        break;
      case UpEnd::Kind::ExitSignal:
        ssh_channel_request_send_exit_signal(client_.get(), e.signal.c_str(), e.core ? 1 : 0,
                                             e.message.c_str(), "");
        break;
      case UpEnd::Kind::Close:
        closeClient();
        break;
    }
  }
}

// In the data callbacks, returning less than `len` leaves the rest in
// libssh's channel buffer (holding back the sender's window); drain() moves
// it on later. Nothing is taken while older bytes wait.
int SshSessionRelay::onClientData(const char* data, uint32_t len) {
  if (forwardOnly_ || refused_) return static_cast<int>(len);  // nothing goes anywhere
  if (stage_ != Stage::Relaying || !ops_.empty() || toUp_ == Told::Closed || !host_.flowing() ||
      !pendingUp_.empty() || recordingHeld())
    return leftBehind(0, len);
  uint32_t n = writeSome(up_.get(), data, len, false);
  host_.record().bytesToTarget += n;
  if (n) recorded(data, n, true);
  return leftBehind(n, len);
}

int SshSessionRelay::onUpData(const char* data, uint32_t len, int isStderr) {
  if (fromClient_ == Heard::Closed || refused_)
    return static_cast<int>(len);  // dropped: see progress()
  if (haltPending_ || recordingHeld()) return leftBehind(0, len);
  std::string& pending = isStderr ? pendingDownErr_ : pendingDown_;
  if (toClient_ == Told::Closed || !host_.flowing() || !pending.empty() || host_.clientBacklogged())
    return leftBehind(0, len);
  uint32_t n = writeSome(client_.get(), data, len, isStderr != 0);
  host_.record().bytesFromTarget += n;
  host_.sentToClient(n);
  if (n) recorded(data, n, false);
  return leftBehind(n, len);
}

// What a data callback leaves in libssh's buffer is moved by drain() in a
// later round: make sure there is one (this packet may have been read by a
// call made for another channel, after this relay's progress() ran).
int SshSessionRelay::leftBehind(uint32_t taken, uint32_t len) {
  if (taken < len) host_.wake();
  return static_cast<int>(taken);
}

// Moves what libssh still holds for one direction, bounded by the receiving
// channel's window; bytes read but not taken wait in `pending`.
uint64_t SshSessionRelay::drain(ssh_channel from, ssh_channel to, int isStderr, bool toStderr,
                                std::string& pending, Tap tap) {
  uint64_t moved = 0;
  for (int i = 0; i < 16 && !haltPending_; ++i) {
    if (tap != Tap::None && recordingHeld()) break;
    if (!pending.empty()) {
      uint32_t w = writeSome(to, pending.data(), pending.size(), toStderr);
      if (w && tap != Tap::None) recorded(pending.data(), w, tap == Tap::Input);
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

void SshSessionRelay::runOps() {
  awaitingReply_ = false;
  while (!ops_.empty() && toUp_ != Told::Closed) {
    int rc = ops_.front()();
    if (rc == SSH_AGAIN) {
      awaitingReply_ = true;
      break;
    }
    if (rc != SSH_OK) {
      tell("jitgate: the target refused the request: " + printable(ssh_get_error(hop_), 200) +
           "\r\n");
      ops_.clear();
      heardUpEnd(UpEnd(UpEnd::Kind::Eof));
      heardUpEnd(UpEnd(UpEnd::Kind::ExitStatus, 1));
      heardUpEnd(UpEnd(UpEnd::Kind::Close));
      break;
    }
    ops_.pop_front();
  }
}

void SshSessionRelay::closeClient() {
  if (toClient_ == Told::Closed) return;
  ssh_channel_close(client_.get());
  toClient_ = Told::Closed;
}

void SshSessionRelay::closeUp() {
  if (toUp_ == Told::Closed || !up_) return;
  ssh_channel_close(up_.get());
  toUp_ = Told::Closed;
}

void SshSessionRelay::progress(ssh_session hop) {
  if (stage_ == Stage::Done) return;
  if (haltPending_) haltUnrecorded();
  if (forwardOnly_ || refused_) {
    if (fromClient_ == Heard::Closed) {
      pendingDown_.clear();
      pendingDownErr_.clear();
    }
    flushAnswer();
    bool answered = pendingDown_.empty() && pendingDownErr_.empty() && !command_;
    relayUpEnds(answered);  // the bastion's own answer to a command
    // started: answered or refused, it ends
    if (answered && (fromClient_ != Heard::Open || started_)) closeClient();
    if (fromClient_ == Heard::Closed) {
      closeUp();
      stage_ = Stage::Done;
      endRecording();
    }
    return;
  }
  hop_ = hop;
  bool clientClosed = fromClient_ == Heard::Closed;
  if (clientClosed) ops_.clear();  // nothing more is started for a client that has gone
  if (hop_) runOps();
  bool opened = stage_ == Stage::Relaying;
  // Client -> target, then its end once everything it sent has gone.
  if (opened && ops_.empty() && toUp_ != Told::Closed) {
    host_.record().bytesToTarget +=
        drain(client_.get(), up_.get(), 0, false, pendingUp_, Tap::Input);
    if (fromClient_ != Heard::Open && toUp_ == Told::Open && pendingUp_.empty() &&
        ssh_channel_poll(client_.get(), 0) <= 0) {
      ssh_channel_send_eof(up_.get());
      toUp_ = Told::Eof;
    }
    if (clientClosed && toUp_ == Told::Eof) closeUp();  // what it sent went first
  }
  // Target -> client, within what libssh may hold for the client; a client
  // that has closed takes no more data, so what the target still sends is
  // dropped rather than left to fill its window.
  if (opened && clientClosed) {
    pendingDown_.clear();
    pendingDownErr_.clear();
    discard(up_.get(), 0);
    discard(up_.get(), 1);
  } else if (opened && toClient_ != Told::Closed && !host_.clientBacklogged()) {
    uint64_t moved = drain(up_.get(), client_.get(), 0, false, pendingDown_, Tap::Output) +
                     drain(up_.get(), client_.get(), 1, true, pendingDownErr_, Tap::Output);
    host_.record().bytesFromTarget += moved;
    host_.sentToClient(moved);
  }
  bool upDrained =
      !opened || (pendingDown_.empty() && pendingDownErr_.empty() &&
                  ssh_channel_poll(up_.get(), 0) <= 0 && ssh_channel_poll(up_.get(), 1) <= 0);
  relayUpEnds(upDrained);
  // A client that closes before the hop's channel is open has nothing to wait
  // for; otherwise its close is answered when the target's close is relayed.
  if (clientClosed && !opened) {
    closeClient();
    stage_ = Stage::Done;
  }
  if (toClient_ == Told::Closed && (toUp_ == Told::Closed || fromUp_ == Heard::Closed)) {
    closeUp();
    stage_ = Stage::Done;
  }
  if (stage_ == Stage::Done) endRecording();
  hop_ = nullptr;
}

bool SshSessionRelay::startRecording(const char* channel, const std::string& command) {
  RecordingStore* store = host_.recordings();
  if (!store || store->settings().mode == RecordMode::Off) return true;
  // The server end of scp or rsync carries a file protocol, not a screen:
  // audited (session.command) as sftp is, not recorded, or every bulk
  // transfer would run into the size cap. Any other command is recorded,
  // with a pty or without.
  if (!pty_ && fileTransferCommand(command)) return true;
  const SessionRecord& s = host_.record();
  RecordingHeader h;
  h.session = s.id;
  h.user = s.user;
  h.target = s.target;
  h.grantId = s.grantId;
  h.source = s.source;
  h.channel = channel;
  h.command = command;
  h.term = term_;
  h.width = width_;
  h.height = height_;
  h.mode = store->settings().mode;
  auto r = store->begin(h);
  if (r) {
    rec_ = std::move(*r);
    host_.audit(recordingEntry(s, "ok",
                               "recording=" + rec_->id() + " started channel=" + channel +
                                   " record=" + std::string(toString(h.mode))));
    return true;
  }
  if (store->settings().whenFull == WhenFull::Continue) {
    host_.audit(recordingEntry(
        s, "error",
        "recording=- unrecorded: " + r.refusal().message + " (recordings.when_full = continue)"));
    return true;
  }
  refusalText_ = "this session cannot be recorded, so it does not run: " + r.refusal().message;
  return false;
}

int SshSessionRelay::refuseUnrecorded() {
  const SessionRecord& s = host_.record();
  AuditEntry e = refusalEntry("ssh", s.user, s.target, s.port, s.source,
                              SessionRefusal::RecordingUnavailable, refusalText_);
  e.grantId = s.grantId;
  host_.audit(std::move(e));
  std::string text = "jitgate: " + refusalText_ + "\r\n";
  ssh_channel_write_stderr(client_.get(), text.data(), static_cast<uint32_t>(text.size()));
  refused_ = true;
  ops_.clear();
  heardUpEnd(UpEnd(UpEnd::Kind::Eof));
  heardUpEnd(UpEnd(UpEnd::Kind::ExitStatus, 1));
  heardUpEnd(UpEnd(UpEnd::Kind::Close));
  return 0;
}

void SshSessionRelay::recorded(const char* data, size_t len, bool input) {
  if (!rec_) return;
  if (input)
    rec_->input(std::string_view(data, len));
  else
    rec_->output(std::string_view(data, len));
  recordingHeld();
}

// A recording that stopped (its size cap, a write error; found while
// recording or by the store's flush timer) is acted on before anything more
// is relayed: with when_full = continue the session goes on unrecorded;
// otherwise nothing more moves and the channel ends in progress().
bool SshSessionRelay::recordingHeld() {
  if (haltPending_) return true;
  if (!rec_ || rec_->recording()) return false;
  RecordingStore* store = host_.recordings();
  if (store && store->settings().whenFull == WhenFull::Continue) {
    host_.audit(recordingEntry(host_.record(), "error",
                               "recording=" + rec_->id() + " unrecorded from here: " +
                                   rec_->problem() + " (recordings.when_full = continue)"));
    endRecording();
    return false;
  }
  haltPending_ = true;  // maybe inside a libssh callback: the channel ends in progress()
  host_.wake();
  return true;
}

void SshSessionRelay::haltUnrecorded() {
  haltPending_ = false;
  refusalText_ = (rec_ ? rec_->problem() : std::string("the recording stopped")) +
                 ": the session ends (recordings.when_full = refuse)";
  endRecording();
  const SessionRecord& s = host_.record();
  AuditEntry e = refusalEntry("ssh", s.user, s.target, s.port, s.source,
                              SessionRefusal::RecordingUnavailable, refusalText_);
  e.grantId = s.grantId;
  host_.audit(std::move(e));
  tell("\r\njitgate: " + refusalText_ + "\r\n");
  refused_ = true;
  ops_.clear();
  pendingUp_.clear();
  pendingDown_.clear();
  pendingDownErr_.clear();
  closeUp();
  upEnds_.clear();
  upCloseHeard_ = false;
  fromUp_ = Heard::Open;
  heardUpEnd(UpEnd(UpEnd::Kind::ExitStatus, 1));
  heardUpEnd(UpEnd(UpEnd::Kind::Close));
}

void SshSessionRelay::endRecording() {
  if (!rec_) return;
  auto sum = rec_->close();
  host_.audit(recordingEntry(host_.record(), sum.end == "write_error" ? "error" : "ok",
                             "recording=" + sum.id + " sha256=" + sum.digest +
                                 " bytes=" + std::to_string(sum.bytes) +
                                 " chunks=" + std::to_string(sum.chunks) + " end=" + sum.end));
  rec_.reset();
}

// Reads and drops what libssh holds for one stream of `from`.
void SshSessionRelay::discard(ssh_channel from, int isStderr) {
  char scratch[16 * 1024];
  for (int i = 0; i < 64 && ssh_channel_poll(from, isStderr) > 0; ++i)
    if (ssh_channel_read_nonblocking(from, scratch, sizeof scratch, isStderr) <= 0) break;
}

void SshSessionRelay::targetGone() { heardUpEnd(UpEnd(UpEnd::Kind::Close)); }

void SshSessionRelay::tell(const std::string& text) {
  if (stage_ == Stage::Done || toClient_ == Told::Closed || !client_) return;
  ssh_channel_write_stderr(client_.get(), text.data(), static_cast<uint32_t>(text.size()));
}

}  // namespace jitgate
