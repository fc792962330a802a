// WinRM refusals reach the person: what the real pywinrm client shows when
// the bastion refuses (Basic and NTLM, before any grant and after a revoke),
// since its users see only what the client prints.
#include "winrm_fixture.hpp"

namespace jitgate {
namespace {

using WinrmMessagesTest = WinrmTest;

TEST_F(WinrmMessagesTest, BasicWithoutAGrantShowsTheReason) {
  startStandin();
  startDaemon();
  addTarget();
  grant("alice", standin_->port());
  auto r = client(clientArgs(httpUrl(), "plaintext", "bob", "echo hi"));
  EXPECT_EQ(r.exitCode, 1);
  // pywinrm's Protocol turns the WS-Man fault into WinRMError with its text.
  EXPECT_NE(r.err.find("WinRMError: jitgate: bob holds no active grant on vm1"), std::string::npos)
      << r.err;
}

TEST_F(WinrmMessagesTest, NtlmWithoutAnyGrantShowsTheReasonNotAKeyError) {
  startStandin({.auth = "ntlm", .env = {legacyEnv_}});
  startDaemon();
  addTarget();
  auto r = client(clientArgs(httpUrl(), "ntlm", "alice", "echo hi"));
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_EQ(r.err.find("KeyError"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("WinRMError: jitgate: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("vm1"), std::string::npos) << r.err;
  EXPECT_TRUE(standin_->requests().empty()) << "nothing reached the target";
}

TEST_F(WinrmMessagesTest, AfterARevokeNtlmShowsTheReason) {
  startStandin({.auth = "ntlm", .env = {legacyEnv_}});
  startDaemon();
  addTarget();
  std::string id = grant("alice", standin_->port());
  auto ok = client(clientArgs(httpUrl(), "ntlm", "alice", "echo before"));
  ASSERT_EQ(ok.exitCode, 0) << ok.err;
  ASSERT_EQ(jitctl({"revoke", id}).exitCode, 0);
  auto r = client(clientArgs(httpUrl(), "ntlm", "alice", "echo after"));
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_EQ(r.err.find("KeyError"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("WinRMError: jitgate: "), std::string::npos) << r.err;
}

// A path naming an address that two targets share: the route is chosen
// before the user is known, so it is refused with the candidates named.
TEST_F(WinrmMessagesTest, AnAddressSharedByTargetsIsRefusedNamingThem) {
  startStandin();
  startDaemon();
  addTarget();
  std::string sp = std::to_string(standin_->port());
  ASSERT_EQ(jitctl({"target", "add", "win2", "--address", "127.0.0.1", "--os", "windows",
                    "--winrm-http-port", sp, "--winrm-https-port", sp})
                .exitCode,
            0);
  grant("alice", standin_->port());
  auto r = client(clientArgs("http://127.0.0.1:" + std::to_string(httpPort_) + "/127.0.0.1/wsman",
                             "plaintext", "alice", "echo hi"));
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("127.0.0.1 is the address of 2 targets: name the target"), std::string::npos)
      << r.err;
  // Nothing is authenticated yet: the answer names no target.
  EXPECT_EQ(r.err.find("win2"), std::string::npos) << r.err;
  EXPECT_TRUE(standin_->requests().empty()) << "nothing reached the target";
  EXPECT_NE(jitctl({"audit", "--csv"}).out.find("reason=ambiguous_target"), std::string::npos);
}

}  // namespace
}  // namespace jitgate
