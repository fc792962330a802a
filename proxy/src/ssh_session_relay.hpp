// One client session channel of a terminating SSH connection and its twin on
// the hop to the target: requests replayed in order, data moved within each
// side's window, and the end in the order clients rely on (EOF each way when
// that side is drained, the target's exit status before the client's close).
#pragma once

#include <libssh/callbacks.h>
#include <libssh/libssh.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>

#include "bastion_shell.hpp"
#include "jitgate/handle.hpp"
#include "jitgate/proxy/session_registry.hpp"
#include "jitgate/recording/recording_store.hpp"

namespace jitgate {

// What a relay asks of the connection it belongs to.
class SshRelayHost {
 public:
  virtual ~SshRelayHost() = default;
  virtual bool flowing() const = 0;     // the session's grant still holds
  virtual SessionRecord& record() = 0;  // the terminating session's byte counts
  virtual bool clientBacklogged() = 0;  // libssh holds too much for the client
  virtual void sentToClient(uint64_t n) = 0;
  virtual void wake() = 0;  // progress again soon (a window opened inside a poll)
  virtual void pump() = 0;  // progress now (a socket turned ready)
  virtual void audit(AuditEntry e) = 0;
  // Where shells and commands are recorded (null: not recorded).
  virtual RecordingStore* recordings() { return nullptr; }
  // Whether a login without a target runs the bastion's command interface;
  // when it does, a relay with a command waiting (takeCommand) says so here
  // and the host answers it (answer) outside any libssh callback.
  virtual bool offersCommands() const { return false; }
  virtual void commandQueued() {}
};

// Writes at most the receiving channel's window; returns what it took (0 when
// the session cannot take data now, e.g. during a key re-exchange).
uint32_t writeSome(ssh_channel to, const char* data, size_t len, bool toStderr);

class SshSessionRelay {
 public:
  // What one end has told us, and what we have told it.
  enum class Heard { Open, Eof, Closed };
  enum class Told { Open, Eof, Closed };
  enum class Stage {
    WaitingForHop,  // the hop's channel is not open yet: requests queue
    Relaying,
    Done,
  };

  // `forwardOnly`: a "user" login without a target, nothing upstream.
  SshSessionRelay(SshRelayHost& host, ssh_session client, bool forwardOnly, std::string user);
  ~SshSessionRelay();
  SshSessionRelay(const SshSessionRelay&) = delete;
  SshSessionRelay& operator=(const SshSessionRelay&) = delete;

  ssh_channel clientChannel() const { return client_.get(); }  // null: could not be made
  // Runs queued requests (when `hop` is up and ready, else null), moves
  // data, and carries the ends through.
  void progress(ssh_session hop);
  // The target's connection is gone: what it sent is finished, then the end.
  void targetGone();
  // A line on the client's stderr while it can still be told anything.
  void tell(const std::string& text);
  bool done() const { return stage_ == Stage::Done; }
  // A request (or the channel's open) waits for the target's reply. libssh
  // has no callback for a reply, and any call on the hop's session may read
  // it (one made for another channel, after this relay's turn): the host
  // runs progress() again soon while this holds.
  bool awaitingReply() const { return awaitingReply_ && stage_ != Stage::Done; }
  // The bastion's command interface (forward-only logins): the command line
  // waiting to be run, and its answer (the output, then the exit status).
  std::optional<std::string> takeCommand();
  void answer(ShellAnswer a);

 private:
  static SshSessionRelay* self(void* ud) { return static_cast<SshSessionRelay*>(ud); }
  int openUp();
  int onClientData(const char* data, uint32_t len);
  int onUpData(const char* data, uint32_t len, int isStderr);
  int leftBehind(uint32_t taken, uint32_t len);
  int forwardOnlyRefusal(bool asCommand);
  // Writes what the interface answered, within the client's window.
  void flushAnswer();
  // --- Recording (docs/RECORDINGS.md)
  // Starts the channel's recording; false when it cannot be recorded and
  // must not run (when_full = refuse): refusalText_ says why.
  bool startRecording(const char* channel, const std::string& command);
  // A shell or command that cannot be recorded: the reason, exit status 1.
  int refuseUnrecorded();
  void recorded(const char* data, size_t len, bool input);
  bool recordingHeld();   // the recording stopped and nothing more may move (when_full = refuse)
  void haltUnrecorded();  // the recording stopped mid-session (refuse): the channel ends
  void endRecording();
  void runOps();
  enum class Tap { None, Output, Input };  // what drain() hands the recording
  uint64_t drain(ssh_channel from, ssh_channel to, int isStderr, bool toStderr,
                 std::string& pending, Tap tap);
  void discard(ssh_channel from, int isStderr);
  void closeClient();
  void closeUp();
  static void raise(Heard& h, Heard to) {
    if (to > h) h = to;
  }

  SshRelayHost& host_;
  SshChannelPtr client_;
  SshChannelPtr up_;
  ssh_channel_callbacks_struct clientCb_{};
  ssh_channel_callbacks_struct upCb_{};
  bool forwardOnly_;
  std::string user_;
  Stage stage_ = Stage::WaitingForHop;
  Heard fromClient_ = Heard::Open, fromUp_ = Heard::Open;
  Told toClient_ = Told::Open, toUp_ = Told::Open;
  bool started_ = false;  // shell, exec or subsystem asked for: one per channel
  // Requests for the hop's channel, replayed in order once it can take them:
  // each returns SSH_OK (done), SSH_AGAIN (call again later) or SSH_ERROR.
  // The first opens the hop's channel.
  std::deque<std::function<int()>> ops_;
  bool awaitingReply_ = false;  // the front of ops_ answered SSH_AGAIN
  ssh_session hop_ = nullptr;   // while progress() runs with a ready hop
  // What the target said about its end (EOF, exit status or signal, close),
  // in the order it said it: relayed in that order once the data before it
  // has gone to the client, and before the client's close is answered.
  struct UpEnd {
    enum class Kind { Eof, ExitStatus, ExitSignal, Close };
    explicit UpEnd(Kind k, int exitStatus = 0, std::string sig = {}, std::string text = {},
                   bool coreDumped = false)
        : kind(k),
          status(exitStatus),
          signal(std::move(sig)),
          message(std::move(text)),
          core(coreDumped) {}
    Kind kind;
    int status;
    std::string signal, message;
    bool core;
  };
  void heardUpEnd(UpEnd e);
  void relayUpEnds(bool upDrained);
  std::deque<UpEnd> upEnds_;
  bool upCloseHeard_ = false;  // a Close is queued: nothing after it
  // Read from one channel, not yet taken by the other (a write that takes
  // less, e.g. while a key re-exchange holds the session): at most one chunk.
  std::string pendingUp_, pendingDown_, pendingDownErr_;
  // The pty's size and terminal type, for the recording's header.
  int width_ = 80, height_ = 24;
  std::string term_;
  bool pty_ = false;  // a pty was asked for (a file transfer has none)
  std::unique_ptr<Recorder> rec_;
  // The channel was answered by the bastion (it could not be recorded):
  // nothing more goes either way.
  bool refused_ = false;
  bool haltPending_ = false;            // a recording stopped inside a callback; progress() ends it
  std::optional<std::string> command_;  // for the bastion's interface, not yet run
  std::string refusalText_;
};

}  // namespace jitgate
