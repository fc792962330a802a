// The bastion's SSH hop against peers on 127.0.0.1 that are not sshd: what
// each failure before the target's sshd is reached is called, and that no
// certificate is minted for a grant that is no longer active.
#include "ssh_hop.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <boost/asio/write.hpp>
#include <optional>

#include "../support/test_support.hpp"
#include "jitgate/store.hpp"

namespace jitgate {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

class SshHopTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::mkdir((dir_ / "state").c_str(), 0700);
    store_ = openSqliteStore(dir_ / "state/db").value();
    engine_ = std::make_unique<GrantEngine>(*store_, clock_, io_);
    ASSERT_TRUE(engine_->start().ok());
    AuthorityOptions o;
    o.stateDir = dir_ / "state";
    auto ca = CertificateAuthority::open(*store_, *engine_, clock_, o);
    ASSERT_TRUE(ca.ok()) << ca.refusal().describe();
    ca_ = std::move(*ca);
    acceptor_.open(tcp::v4());
    acceptor_.bind({asio::ip::make_address("127.0.0.1"), 0});
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    Target t;
    t.name = "vm1";
    t.address = "127.0.0.1";
    t.sshPort = port_;
    ASSERT_TRUE(engine_->addTarget("admin", t).ok());
    Policy p;
    p.target = "vm1";
    p.ports = {PortRule{port_, "tcp", {Cidr::any()}, 3h}};
    ASSERT_TRUE(engine_->setPolicy("admin", p).ok());
    GrantInput in;
    in.user = "alice";
    in.target = "vm1";
    in.port.number = port_;
    in.port.source = Cidr::parse("127.0.0.1/32").value();
    in.port.duration = 1h;
    grantId_ = engine_->grant("admin", in).value().id;
  }

  // A hop to vm1 as alice, driven the way a connection drives it: progress
  // when woken or when its socket is ready.
  std::shared_ptr<SshHop> hop(uint16_t port) {
    SshHop::Params p;
    p.user = "alice";
    p.grantId = grantId_;
    p.target = "vm1";
    p.address = "127.0.0.1";
    p.port = port;
    p.knownHosts = dir_ / "state/known_hosts";
    p.connectTimeout = 5s;
    SshHop::Events e;
    auto weak = std::make_shared<std::weak_ptr<SshHop>>();
    e.wake = [this, weak] {
      if (auto h = weak->lock()) drive(h);
    };
    e.failed = [this](SessionRefusal r, const std::string& m) { failed_ = std::make_pair(r, m); };
    auto h = std::make_shared<SshHop>(io_, *ca_, std::move(p), std::move(e));
    *weak = h;
    return h;
  }
  void drive(const std::shared_ptr<SshHop>& h) {
    h->progress();
    if (h->session() && h->settling()) h->watch().arm(h->session(), h, [this, h] { drive(h); });
  }
  // Runs the loop until the hop failed, five seconds at most (never hangs).
  void runUntilFailed() {
    auto limit = std::chrono::steady_clock::now() + 5s;
    while (!failed_ && std::chrono::steady_clock::now() < limit) io_.run_one_for(100ms);
  }

  testing::TempDir dir_;
  testing::FakeClock clock_{testing::at("2026-11-23T12:00:00Z")};
  asio::io_context io_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<GrantEngine> engine_;
  std::unique_ptr<CertificateAuthority> ca_;
  tcp::acceptor acceptor_{io_};
  uint16_t port_ = 0;
  std::string grantId_;
  std::optional<std::pair<SessionRefusal, std::string>> failed_;
};

TEST_F(SshHopTest, ARevokedGrantGetsNoCertificate) {
  ASSERT_TRUE(engine_->revoke("admin", grantId_).ok());
  tcp::socket peer(io_);
  acceptor_.async_accept(peer, [](const boost::system::error_code&) {});
  auto h = hop(port_);
  h->start();
  runUntilFailed();
  ASSERT_TRUE(failed_);
  EXPECT_EQ(failed_->first, SessionRefusal::CertificateRefused);
  EXPECT_NE(failed_->second.find("revoked"), std::string::npos) << failed_->second;
  EXPECT_EQ(h->state(), SshHop::State::Failed);
  h->close();
}

TEST_F(SshHopTest, NothingListeningIsUnreachable) {
  uint16_t closed = port_;
  acceptor_.close();
  auto h = hop(closed);
  h->start();
  runUntilFailed();
  ASSERT_TRUE(failed_);
  EXPECT_EQ(failed_->first, SessionRefusal::TargetUnreachable);
  EXPECT_NE(failed_->second.find("cannot connect to the target"), std::string::npos)
      << failed_->second;
}

TEST_F(SshHopTest, APeerThatIsNotSshFailsTheHandshake) {
  tcp::socket peer(io_);
  const std::string answer = "HTTP/1.1 400 Bad Request\r\n\r\n";
  acceptor_.async_accept(peer, [&](const boost::system::error_code& ec) {
    if (ec) return;
    asio::async_write(peer, asio::buffer(answer), [&](const boost::system::error_code&, size_t) {
      boost::system::error_code ignored;
      peer.shutdown(tcp::socket::shutdown_send, ignored);
    });
  });
  auto h = hop(port_);
  h->start();
  runUntilFailed();
  ASSERT_TRUE(failed_);
  EXPECT_EQ(failed_->first, SessionRefusal::TargetUnreachable);
  EXPECT_NE(failed_->second.find("SSH handshake with the target failed"), std::string::npos)
      << failed_->second;
  h->close();
}

}  // namespace
}  // namespace jitgate
