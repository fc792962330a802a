// What a WinRM request claims, checked before any grant is asked: its
// target by name or by an address of its own, one target and one user per
// connection, account domains, and client certificates naming user and target.
#include "winrm_claim.hpp"

#include <gtest/gtest.h>

#include "../support/test_support.hpp"
#include "jitgate/store.hpp"

namespace jitgate {
namespace {

class WinrmClaimTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = openSqliteStore(dir_ / "db").value();
    engine_ = std::make_unique<GrantEngine>(*store_, clock_, io_);
    ASSERT_TRUE(engine_->start().ok());
    for (auto [name, address] : {std::pair{"win1", "10.0.0.5"}, std::pair{"win2", "10.0.0.6"},
                                 std::pair{"win3", "10.0.0.6"}}) {
      Target t;
      t.name = name;
      t.address = address;
      t.os = TargetOs::Windows;
      ASSERT_TRUE(engine_->addTarget("admin", t).ok());
    }
  }
  std::variant<WinrmClaim, WinrmClaimRefusal> check(std::string_view path,
                                                    std::optional<std::string_view> auth) {
    WinrmRequestHead head;
    head.post = post_;
    head.target = path;
    head.host = "bastion";
    head.authorization = auth;
    WinrmConnectionSoFar soFar;
    soFar.target = pinned_ ? &*pinned_ : nullptr;
    soFar.user = user_;
    soFar.certUser = certUser_;
    soFar.certTarget = certTarget_;
    return checkWinrmClaim(head, soFar, *engine_, "", domains_);
  }
  static const WinrmClaimRefusal& refusal(const std::variant<WinrmClaim, WinrmClaimRefusal>& v) {
    static const WinrmClaimRefusal none{0, SessionRefusal::Http, "not refused", {}, {}};
    auto* r = std::get_if<WinrmClaimRefusal>(&v);
    return r ? *r : none;
  }

  testing::TempDir dir_;
  testing::FakeClock clock_{testing::at("2026-11-23T12:00:00Z")};
  boost::asio::io_context io_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<GrantEngine> engine_;
  bool post_ = true;
  std::optional<Target> pinned_;
  std::string user_, certUser_, certTarget_;
  std::vector<std::string> domains_;
};

// "alice:pw", as Basic sends it.
constexpr std::string_view kAlice = "Basic YWxpY2U6cHc=";
// "EVIL\alice:pw".
constexpr std::string_view kEvilAlice = "Basic RVZJTFxhbGljZTpwdw==";

TEST_F(WinrmClaimTest, ANamedTargetAndItsUserPass) {
  auto v = check("/win1/wsman", kAlice);
  ASSERT_TRUE(std::holds_alternative<WinrmClaim>(v)) << refusal(v).message;
  const auto& c = std::get<WinrmClaim>(v);
  EXPECT_EQ(c.target.name, "win1");
  EXPECT_EQ(c.upstreamPath, "/wsman");
  EXPECT_EQ(c.user, "alice");
  EXPECT_EQ(c.auditUser, "alice");
  EXPECT_EQ(c.credential.scheme, AuthScheme::Basic);
}

TEST_F(WinrmClaimTest, AnAddressOfOneTargetIsThatTarget) {
  auto v = check("/10.0.0.5/wsman", kAlice);
  ASSERT_TRUE(std::holds_alternative<WinrmClaim>(v)) << refusal(v).message;
  EXPECT_EQ(std::get<WinrmClaim>(v).target.name, "win1");
}

// Before any credential is checked the answer names none of the targets.
TEST_F(WinrmClaimTest, ASharedAddressIsRefusedWithoutNamingItsTargets) {
  auto r = refusal(check("/10.0.0.6/wsman", kAlice));
  EXPECT_EQ(r.reason, SessionRefusal::AmbiguousTarget);
  EXPECT_EQ(r.status, 403u);
  EXPECT_NE(r.message.find("is the address of 2 targets"), std::string::npos) << r.message;
  EXPECT_EQ(r.message.find("win2"), std::string::npos) << r.message;
  EXPECT_EQ(r.message.find("win3"), std::string::npos) << r.message;
  EXPECT_FALSE(r.target);
}

TEST_F(WinrmClaimTest, RefusalsBeforeTheTargetIsKnownNameNoTarget) {
  auto r = refusal(check("/nosuch/wsman", kAlice));
  EXPECT_EQ(r.reason, SessionRefusal::UnknownTarget);
  EXPECT_FALSE(r.target);
  post_ = false;
  EXPECT_EQ(refusal(check("/win1/wsman", kAlice)).status, 405u);
}

TEST_F(WinrmClaimTest, OneConnectionServesOneTargetAndOneUser) {
  pinned_ = engine_->targetsNamed("win1").front();
  user_ = "alice";
  auto r = refusal(check("/win2/wsman", kAlice));
  EXPECT_EQ(r.reason, SessionRefusal::Routing);
  EXPECT_NE(r.message.find("one target (win1)"), std::string::npos) << r.message;
  // "bob:pw"
  auto b = refusal(check("/win1/wsman", "Basic Ym9iOnB3"));
  EXPECT_EQ(b.reason, SessionRefusal::Identity);
  EXPECT_NE(b.message.find("belongs to alice"), std::string::npos) << b.message;
  ASSERT_TRUE(b.target);
  EXPECT_EQ(b.target->name, "win1");
  // No credentials on a later request: the connection's user.
  auto v = check("/win1/wsman", std::nullopt);
  ASSERT_TRUE(std::holds_alternative<WinrmClaim>(v)) << refusal(v).message;
  EXPECT_EQ(std::get<WinrmClaim>(v).user, "alice");
}

TEST_F(WinrmClaimTest, AQualifiedNamePassesOnlyForAnAcceptedDomain) {
  auto r = refusal(check("/win1/wsman", kEvilAlice));
  EXPECT_EQ(r.reason, SessionRefusal::AccountDomain);
  EXPECT_EQ(r.user, "alice");
  ASSERT_TRUE(r.target);  // a refusal about win1
  domains_ = {"evil"};
  EXPECT_TRUE(std::holds_alternative<WinrmClaim>(check("/win1/wsman", kEvilAlice)));
}

TEST_F(WinrmClaimTest, AClientCertificateNamesItsUserAndItsTarget) {
  certUser_ = "alice";
  certTarget_ = "win2";
  auto r = refusal(check("/win1/wsman", std::nullopt));
  EXPECT_EQ(r.reason, SessionRefusal::Certificate);
  EXPECT_NE(r.message.find("wrong_target"), std::string::npos) << r.message;
  certTarget_ = "win1";
  auto v = check("/win1/wsman", std::nullopt);
  ASSERT_TRUE(std::holds_alternative<WinrmClaim>(v)) << refusal(v).message;
  EXPECT_EQ(std::get<WinrmClaim>(v).user, "alice");
  auto b = refusal(check("/win1/wsman", "Basic Ym9iOnB3"));
  EXPECT_EQ(b.reason, SessionRefusal::Identity);
  EXPECT_NE(b.message.find("certificate names alice"), std::string::npos) << b.message;
}

}  // namespace
}  // namespace jitgate
