// The forward relay between a real libssh client (on its own thread, over a
// socketpair) and a TCP peer on 127.0.0.1: half-close kept each way, bytes
// counted, the session's connect and disconnect audited. Every wait is
// bounded; no root needed.
#include "ssh_forward_relay.hpp"

#include <gtest/gtest.h>
#include <libssh/callbacks.h>
#include <libssh/libssh.h>
#include <libssh/server.h>
#include <sys/socket.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <future>
#include <thread>

#include "../support/test_support.hpp"
#include "jitgate/store.hpp"

namespace jitgate {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// What the relay asks of its connection, recorded.
struct FakeHost final : SshRelayHost {
  bool flowing() const override { return true; }
  SessionRecord& record() override { return rec; }
  bool clientBacklogged() override { return false; }
  void sentToClient(uint64_t) override {}
  void wake() override { woken = true; }
  void pump() override { woken = true; }
  void audit(AuditEntry e) override { audited.push_back(std::move(e)); }
  SessionRecord rec;
  bool woken = false;
  std::vector<AuditEntry> audited;
};

// The client: connects over `fd`, opens one direct-tcpip channel, sends
// `data` and its EOF, and returns what comes back before the channel's EOF.
std::string clientExchange(int fd, uint16_t port, const std::string& data) {
  ssh_session s = ssh_new();
  int zero = 0;
  long timeout = 5;
  ssh_options_set(s, SSH_OPTIONS_FD, &fd);
  ssh_options_set(s, SSH_OPTIONS_HOST, "bastion");
  ssh_options_set(s, SSH_OPTIONS_USER, "alice");
  ssh_options_set(s, SSH_OPTIONS_PROCESS_CONFIG, &zero);
  ssh_options_set(s, SSH_OPTIONS_TIMEOUT, &timeout);
  std::string got = "(no connection)";
  if (ssh_connect(s) == SSH_OK && ssh_userauth_none(s, nullptr) == SSH_AUTH_SUCCESS) {
    got = "(no channel)";
    ssh_channel ch = ssh_channel_new(s);
    if (ssh_channel_open_forward(ch, "vm1", port, "127.0.0.1", 5555) == SSH_OK) {
      got.clear();
      ssh_channel_write(ch, data.data(), static_cast<uint32_t>(data.size()));
      ssh_channel_send_eof(ch);
      char buf[256];
      int n;
      while ((n = ssh_channel_read_timeout(ch, buf, sizeof buf, 0, 5000)) > 0) got.append(buf, n);
      if (!ssh_channel_is_eof(ch)) got += "(no eof)";
      ssh_channel_close(ch);
    }
    ssh_channel_free(ch);
  }
  ssh_disconnect(s);
  ssh_free(s);
  return got;
}

class SshForwardRelayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = openSqliteStore(dir_ / "db").value();
    engine_ = std::make_unique<GrantEngine>(*store_, clock_, io_);
    ASSERT_TRUE(engine_->start().ok());
    registry_ = std::make_unique<SessionRegistry>(*engine_);
    acceptor_.open(tcp::v4());
    acceptor_.bind({asio::ip::make_address("127.0.0.1"), 0});
    acceptor_.listen();
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds_), 0);
    ssh_key key = nullptr;
    ASSERT_EQ(ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &key), SSH_OK);
    bind_.reset(ssh_bind_new());
    // The bind owns the key from here on.
    ASSERT_EQ(ssh_bind_options_set(bind_.get(), SSH_BIND_OPTIONS_IMPORT_KEY, key), SSH_OK);
    server_.reset(ssh_new());
    ASSERT_EQ(ssh_bind_accept_fd(bind_.get(), server_.get(), fds_[0]), SSH_OK);
    ssh_set_blocking(server_.get(), 0);
    ssh_callbacks_init(&cb_);
    cb_.userdata = this;
    cb_.auth_none_function = [](ssh_session, const char*, void*) { return int(SSH_AUTH_SUCCESS); };
    ssh_set_server_callbacks(server_.get(), &cb_);
    ssh_set_auth_methods(server_.get(), SSH_AUTH_METHOD_NONE);
    ssh_set_message_callback(server_.get(), &SshForwardRelayTest::onMessage, this);
    event_.reset(ssh_event_new());
  }
  void TearDown() override {
    if (relay_) relay_->close();
    relay_.reset();
    if (event_ && kexDone_) ssh_event_remove_session(event_.get(), server_.get());
  }

  static int onMessage(ssh_session, ssh_message msg, void* ud) {
    auto* t = static_cast<SshForwardRelayTest*>(ud);
    if (ssh_message_type(msg) != SSH_REQUEST_CHANNEL_OPEN ||
        ssh_message_subtype(msg) != SSH_CHANNEL_DIRECT_TCPIP || t->relay_)
      return 1;
    ssh_channel ch = ssh_message_channel_request_open_reply_accept(msg);
    if (!ch) return 0;
    t->relay_ = std::make_shared<SshForwardRelay>(
        t->io_, t->host_, *t->engine_, *t->registry_, ch, "127.0.0.1",
        static_cast<uint16_t>(ssh_message_channel_request_open_destination_port(msg)));
    t->relay_->connect(5s);
    return 0;
  }

  // The server side's loop until `done` or ten seconds: libssh, Asio, and
  // the relay's progress, as a connection would run them.
  void serve(const std::function<bool()>& done) {
    auto limit = std::chrono::steady_clock::now() + 10s;
    while (!done() && std::chrono::steady_clock::now() < limit) {
      if (!kexDone_) {
        int rc = ssh_handle_key_exchange(server_.get());
        if (rc == SSH_OK) {
          kexDone_ = true;
          ssh_event_add_session(event_.get(), server_.get());
        } else if (rc != SSH_AGAIN) {
          ADD_FAILURE() << "key exchange: " << ssh_get_error(server_.get());
          return;
        }
      } else {
        ssh_event_dopoll(event_.get(), 5);
      }
      io_.poll();
      if (relay_) relay_->progress();
      std::this_thread::sleep_for(1ms);
    }
  }

  testing::TempDir dir_;
  testing::FakeClock clock_{testing::at("2026-11-23T12:00:00Z")};
  asio::io_context io_;
  // poll() on an io_context without work would stop it for good.
  asio::executor_work_guard<asio::io_context::executor_type> work_ = asio::make_work_guard(io_);
  std::unique_ptr<Store> store_;
  std::unique_ptr<GrantEngine> engine_;
  std::unique_ptr<SessionRegistry> registry_;
  tcp::acceptor acceptor_{io_};
  int fds_[2] = {-1, -1};
  SshBindPtr bind_;
  SshSessionPtr server_;
  SshEventPtr event_;
  ssh_server_callbacks_struct cb_{};
  bool kexDone_ = false;
  std::shared_ptr<FakeHost> host_ = std::make_shared<FakeHost>();
  std::shared_ptr<SshForwardRelay> relay_;
};

TEST_F(SshForwardRelayTest, HalfCloseIsKeptEachWayAndTheEndsAreInOrder) {
  // The target reads to the client's EOF, then answers and closes its side.
  tcp::socket peer(io_);
  std::string request;
  bool answered = false;
  acceptor_.async_accept(peer, [&](const boost::system::error_code& ec) {
    ASSERT_FALSE(ec);
    asio::async_read(peer, asio::dynamic_buffer(request),
                     [&](const boost::system::error_code& ec, size_t) {
                       EXPECT_EQ(ec, asio::error::eof);
                       asio::write(peer, asio::buffer(std::string("world")));
                       peer.shutdown(tcp::socket::shutdown_send);
                       answered = true;
                     });
  });
  auto port = acceptor_.local_endpoint().port();
  auto client = std::async(std::launch::async, clientExchange, fds_[1], port, "hello");
  serve(
      [&] { return client.wait_for(0s) == std::future_status::ready && relay_ && relay_->done(); });
  ASSERT_EQ(client.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(client.get(), "world");
  EXPECT_EQ(request, "hello");  // the client's EOF reached the target as a FIN
  EXPECT_TRUE(answered);
  ASSERT_TRUE(relay_);
  EXPECT_TRUE(relay_->done());
  EXPECT_EQ(relay_->binding().record().bytesToTarget, 5u);
  EXPECT_EQ(relay_->binding().record().bytesFromTarget, 5u);
  ASSERT_FALSE(host_->audited.empty());
  EXPECT_EQ(host_->audited.front().action, "session.connect");
}

TEST_F(SshForwardRelayTest, NothingListeningEndsTheChannel) {
  auto port = acceptor_.local_endpoint().port();
  acceptor_.close();
  auto client = std::async(std::launch::async, clientExchange, fds_[1], port, "hello");
  serve([&] { return client.wait_for(0s) == std::future_status::ready; });
  ASSERT_EQ(client.wait_for(10s), std::future_status::ready);
  auto got = client.get();
  // Closed without a byte; the close may even overtake the open's answer.
  EXPECT_TRUE(got.empty() || got == "(no eof)" || got == "(no channel)") << got;
  ASSERT_TRUE(relay_);
  EXPECT_TRUE(relay_->done());
  EXPECT_TRUE(host_->audited.empty());  // never connected: no session to record
}

}  // namespace
}  // namespace jitgate
