// The session relay between a real libssh client (its own thread, over a
// socketpair) and a target that is a libssh server on the test's loop (over
// another socketpair, reached by a libssh hop session): the command, the
// client's input and EOF reach the target, and the target's output, EOF and
// exit status reach the client before the close. Every wait is bounded.
#include "ssh_session_relay.hpp"

#include <gtest/gtest.h>
#include <libssh/callbacks.h>
#include <libssh/libssh.h>
#include <libssh/server.h>
#include <sys/socket.h>

#include <chrono>
#include <future>
#include <memory>
#include <set>
#include <thread>

namespace jitgate {
namespace {

using namespace std::chrono_literals;

struct FakeHost final : SshRelayHost {
  bool flowing() const override { return true; }
  SessionRecord& record() override { return rec; }
  bool clientBacklogged() override { return false; }
  void sentToClient(uint64_t) override {}
  void wake() override {}
  void pump() override {}
  void audit(AuditEntry) override {}
  SessionRecord rec;
};

struct ClientResult {
  std::string out;
  int exitStatus = -2;
  std::string error;
};

// The client: exec `command`, send `input` and EOF, read to EOF.
ClientResult clientExec(int fd, const std::string& command, const std::string& input) {
  ClientResult r;
  ssh_session s = ssh_new();
  int zero = 0;
  long timeout = 5;
  ssh_options_set(s, SSH_OPTIONS_FD, &fd);
  ssh_options_set(s, SSH_OPTIONS_HOST, "bastion");
  ssh_options_set(s, SSH_OPTIONS_USER, "alice");
  ssh_options_set(s, SSH_OPTIONS_PROCESS_CONFIG, &zero);
  ssh_options_set(s, SSH_OPTIONS_TIMEOUT, &timeout);
  ssh_channel ch = nullptr;
  if (ssh_connect(s) != SSH_OK || ssh_userauth_none(s, nullptr) != SSH_AUTH_SUCCESS) {
    r.error = "connect";
  } else if (!(ch = ssh_channel_new(s)) || ssh_channel_open_session(ch) != SSH_OK) {
    r.error = "open";
  } else if (ssh_channel_request_exec(ch, command.c_str()) != SSH_OK) {
    r.error = "exec";
  } else {
    ssh_channel_write(ch, input.data(), static_cast<uint32_t>(input.size()));
    ssh_channel_send_eof(ch);
    char buf[256];
    int n;
    while ((n = ssh_channel_read_timeout(ch, buf, sizeof buf, 0, 5000)) > 0) r.out.append(buf, n);
    if (!ssh_channel_is_eof(ch)) r.error = "no eof";
    r.exitStatus = ssh_channel_get_exit_status(ch);
    ssh_channel_close(ch);
  }
  if (ch) ssh_channel_free(ch);
  ssh_disconnect(s);
  ssh_free(s);
  return r;
}

// The client as OpenSSH's ControlMaster behaves: exec, EOF, read to the
// target's EOF, then close at once, before any exit status came; the exit
// status and the close that answers it are then awaited (5 s at most).
ClientResult clientExecClosingAtEof(int fd, const std::string& command) {
  ClientResult r;
  ssh_session s = ssh_new();
  int zero = 0;
  long timeout = 5;
  ssh_options_set(s, SSH_OPTIONS_FD, &fd);
  ssh_options_set(s, SSH_OPTIONS_HOST, "bastion");
  ssh_options_set(s, SSH_OPTIONS_USER, "alice");
  ssh_options_set(s, SSH_OPTIONS_PROCESS_CONFIG, &zero);
  ssh_options_set(s, SSH_OPTIONS_TIMEOUT, &timeout);
  struct Heard {
    int status = -2;
    bool closed = false;
  } heard;
  ssh_channel_callbacks_struct cb{};
  ssh_callbacks_init(&cb);
  cb.userdata = &heard;
  cb.channel_exit_status_function = [](ssh_session, ssh_channel, int status, void* ud) {
    static_cast<Heard*>(ud)->status = status;
  };
  cb.channel_close_function = [](ssh_session, ssh_channel, void* ud) {
    static_cast<Heard*>(ud)->closed = true;
  };
  ssh_channel ch = nullptr;
  if (ssh_connect(s) != SSH_OK || ssh_userauth_none(s, nullptr) != SSH_AUTH_SUCCESS) {
    r.error = "connect";
  } else if (!(ch = ssh_channel_new(s)) || ssh_channel_open_session(ch) != SSH_OK) {
    r.error = "open";
  } else if (ssh_channel_request_exec(ch, command.c_str()) != SSH_OK) {
    r.error = "exec";
  } else {
    ssh_set_channel_callbacks(ch, &cb);
    ssh_channel_send_eof(ch);
    char buf[256];
    int n;
    while ((n = ssh_channel_read_timeout(ch, buf, sizeof buf, 0, 5000)) > 0) r.out.append(buf, n);
    if (!ssh_channel_is_eof(ch)) r.error = "no eof";
    if (heard.status != -2) r.error = "the exit status came before the close: not this case";
    ssh_channel_close(ch);
    ssh_event ev = ssh_event_new();
    ssh_event_add_session(ev, s);
    auto limit = std::chrono::steady_clock::now() + 5s;
    while (!heard.closed && std::chrono::steady_clock::now() < limit) ssh_event_dopoll(ev, 50);
    ssh_event_remove_session(ev, s);
    ssh_event_free(ev);
    if (!heard.closed) r.error = "no close";
    r.exitStatus = heard.status;
  }
  if (ch) ssh_channel_free(ch);
  ssh_disconnect(s);
  ssh_free(s);
  return r;
}

// A libssh server session over `fd` that accepts anyone ("none").
SshSessionPtr serverOn(ssh_bind bind, int fd, ssh_server_callbacks_struct& cb, void* ud) {
  SshSessionPtr s(ssh_new());
  if (ssh_bind_accept_fd(bind, s.get(), fd) != SSH_OK) return nullptr;
  ssh_set_blocking(s.get(), 0);
  ssh_callbacks_init(&cb);
  cb.userdata = ud;
  cb.auth_none_function = [](ssh_session, const char*, void*) { return int(SSH_AUTH_SUCCESS); };
  ssh_set_auth_methods(s.get(), SSH_AUTH_METHOD_NONE);
  return s;
}

class SshSessionRelayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, clientFds_), 0);
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, hopFds_), 0);
    ssh_key key = nullptr;
    ASSERT_EQ(ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &key), SSH_OK);
    bind_.reset(ssh_bind_new());
    ASSERT_EQ(ssh_bind_options_set(bind_.get(), SSH_BIND_OPTIONS_IMPORT_KEY, key), SSH_OK);
    // The bastion's side of the client connection.
    front_ = serverOn(bind_.get(), clientFds_[0], frontCb_, this);
    ASSERT_TRUE(front_);
    frontCb_.channel_open_request_session_function = [](ssh_session, void* ud) {
      auto* t = static_cast<SshSessionRelayTest*>(ud);
      t->relay_ = std::make_unique<SshSessionRelay>(t->host_, t->front_.get(), false, "alice");
      return t->relay_->clientChannel();
    };
    ssh_set_server_callbacks(front_.get(), &frontCb_);
    // The target.
    target_ = serverOn(bind_.get(), hopFds_[0], targetCb_, this);
    ASSERT_TRUE(target_);
    targetCb_.channel_open_request_session_function = [](ssh_session, void* ud) {
      auto* t = static_cast<SshSessionRelayTest*>(ud);
      t->targetChannel_ = ssh_channel_new(t->target_.get());
      ssh_callbacks_init(&t->targetChannelCb_);
      t->targetChannelCb_.userdata = t;
      t->targetChannelCb_.channel_exec_request_function = [](ssh_session, ssh_channel,
                                                             const char* cmd, void* ud) {
        static_cast<SshSessionRelayTest*>(ud)->command_ = cmd;
        return 0;
      };
      t->targetChannelCb_.channel_data_function = [](ssh_session, ssh_channel, void* data,
                                                     uint32_t len, int, void* ud) {
        static_cast<SshSessionRelayTest*>(ud)->input_.append(static_cast<char*>(data), len);
        return static_cast<int>(len);
      };
      t->targetChannelCb_.channel_eof_function = [](ssh_session, ssh_channel, void* ud) {
        static_cast<SshSessionRelayTest*>(ud)->inputEof_ = true;
      };
      t->targetChannelCb_.channel_close_function = [](ssh_session, ssh_channel, void* ud) {
        static_cast<SshSessionRelayTest*>(ud)->relayClosed_ = true;
      };
      ssh_set_channel_callbacks(t->targetChannel_, &t->targetChannelCb_);
      return t->targetChannel_;
    };
    ssh_set_server_callbacks(target_.get(), &targetCb_);
    // The hop: a libssh client to the target.
    hop_.reset(ssh_new());
    int zero = 0, fd = hopFds_[1];
    ssh_options_set(hop_.get(), SSH_OPTIONS_FD, &fd);
    ssh_options_set(hop_.get(), SSH_OPTIONS_HOST, "vm1");
    ssh_options_set(hop_.get(), SSH_OPTIONS_USER, "alice");
    ssh_options_set(hop_.get(), SSH_OPTIONS_PROCESS_CONFIG, &zero);
    ssh_set_blocking(hop_.get(), 0);
    event_.reset(ssh_event_new());
  }
  void TearDown() override {
    relay_.reset();
    for (ssh_session s : {front_.get(), target_.get(), hop_.get()})
      if (s && inEvent_.count(s)) ssh_event_remove_session(event_.get(), s);
  }

  // Brings one session through its key exchange (and the hop through
  // authentication), then into the event.
  void settle(ssh_session s, bool client) {
    if (inEvent_.count(s)) return;
    int rc;
    if (!client) {
      rc = ssh_handle_key_exchange(s);
    } else if (!hopConnected_) {
      rc = ssh_connect(s);
      if (rc == SSH_OK) hopConnected_ = true;
      rc = SSH_AGAIN;
    } else {
      rc = ssh_userauth_none(s, nullptr);
      rc = rc == SSH_AUTH_SUCCESS ? SSH_OK : rc == SSH_AUTH_AGAIN ? SSH_AGAIN : SSH_ERROR;
    }
    if (rc == SSH_OK) {
      ssh_event_add_session(event_.get(), s);
      inEvent_.insert(s);
    } else if (rc != SSH_AGAIN) {
      ADD_FAILURE() << "session setup: " << ssh_get_error(s);
      failed_ = true;
    }
  }

  // The bastion's and the target's loop until `done`, ten seconds at most;
  // the target answers once the relay's EOF reached it.
  void serve(const std::function<bool()>& done) {
    auto limit = std::chrono::steady_clock::now() + 10s;
    while (!done() && !failed_ && std::chrono::steady_clock::now() < limit) {
      settle(front_.get(), false);
      settle(target_.get(), false);
      settle(hop_.get(), true);
      if (!inEvent_.empty()) ssh_event_dopoll(event_.get(), 5);
      if (targetChannel_ && inputEof_ && !answered_) {
        ssh_channel_write(targetChannel_, "out", 3);
        if (!exitAfterRelayCloses_) ssh_channel_request_send_exit_status(targetChannel_, 7);
        ssh_channel_send_eof(targetChannel_);
        if (!exitAfterRelayCloses_) ssh_channel_close(targetChannel_);
        answered_ = true;
      }
      // sshd's order when its client closes first: the exit status once the
      // command has ended, then the close.
      if (exitAfterRelayCloses_ && answered_ && relayClosed_ && !exited_) {
        ssh_channel_request_send_exit_status(targetChannel_, 7);
        ssh_channel_close(targetChannel_);
        exited_ = true;
      }
      if (relay_) relay_->progress(inEvent_.count(hop_.get()) ? hop_.get() : nullptr);
      std::this_thread::sleep_for(1ms);
    }
  }

  int clientFds_[2] = {-1, -1}, hopFds_[2] = {-1, -1};
  SshBindPtr bind_;
  SshSessionPtr front_, target_, hop_;
  SshEventPtr event_;
  ssh_server_callbacks_struct frontCb_{}, targetCb_{};
  ssh_channel_callbacks_struct targetChannelCb_{};
  ssh_channel targetChannel_ = nullptr;  // freed with the target's session
  std::set<ssh_session> inEvent_;
  bool hopConnected_ = false, failed_ = false, inputEof_ = false, answered_ = false;
  bool exitAfterRelayCloses_ = false, relayClosed_ = false, exited_ = false;
  std::string command_, input_;
  FakeHost host_;
  std::unique_ptr<SshSessionRelay> relay_;
};

TEST_F(SshSessionRelayTest, TheTargetsOutputEofAndExitStatusReachTheClientBeforeTheClose) {
  auto client = std::async(std::launch::async, clientExec, clientFds_[1], "run it", "in");
  serve(
      [&] { return client.wait_for(0s) == std::future_status::ready && relay_ && relay_->done(); });
  ASSERT_EQ(client.wait_for(10s), std::future_status::ready);
  auto r = client.get();
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(command_, "run it");
  EXPECT_EQ(input_, "in");
  EXPECT_TRUE(inputEof_);  // the client's EOF went on after its bytes
  EXPECT_EQ(r.out, "out");
  EXPECT_EQ(r.exitStatus, 7);  // before the close, or the client would not have it
  ASSERT_TRUE(relay_);
  EXPECT_TRUE(relay_->done());
  EXPECT_EQ(host_.rec.bytesToTarget, 2u);
  EXPECT_EQ(host_.rec.bytesFromTarget, 3u);
}

// The multiplexing client's case: it closes at the target's EOF; its close is
// answered only after the target's exit status has been relayed.
TEST_F(SshSessionRelayTest, AClientClosingAtTheTargetsEofStillGetsTheExitStatus) {
  exitAfterRelayCloses_ = true;
  auto client = std::async(std::launch::async, clientExecClosingAtEof, clientFds_[1], "run it");
  serve(
      [&] { return client.wait_for(0s) == std::future_status::ready && relay_ && relay_->done(); });
  ASSERT_EQ(client.wait_for(10s), std::future_status::ready);
  auto r = client.get();
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.out, "out");
  EXPECT_TRUE(relayClosed_);  // the client's close went on to the target
  EXPECT_EQ(r.exitStatus, 7);
  ASSERT_TRUE(relay_);
  EXPECT_TRUE(relay_->done());
}

}  // namespace
}  // namespace jitgate
