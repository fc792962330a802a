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

}  // namespace
}  // namespace jitgate
