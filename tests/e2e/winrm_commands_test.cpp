// Commands on record through the WinRM front: each WS-Man Command that the
// real pywinrm client sends (command line and arguments) is audited as
// session.command in the session it belongs to, after the target answered.
#include "winrm_fixture.hpp"

namespace jitgate {
namespace {

using WinrmCommandsTest = WinrmTest;

TEST_F(WinrmCommandsTest, CommandLineAndArgumentsAreAudited) {
  startStandin();
  startDaemon();
  addTarget();
  grant("alice", standin_->port());
  auto argv = clientArgs(httpUrl(), "plaintext", "alice", "echo audited");
  argv.insert(argv.end(), {"--arg", "/all", "--arg", "a&b <c>"});
  auto r = client(argv);
  ASSERT_EQ(r.exitCode, 0) << r.err << daemon_->log();
  ASSERT_TRUE(waitAudit("command: echo audited /all a&b <c>")) << audit();
  std::string csv = jitctl({"audit", "--csv"}).out;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(
      csv, m,
      std::regex("session\\.command,[^\\n]*front=winrm-http session=(s-[0-9a-z-]+) "
                 "command: echo audited")))
      << csv;
  // The session of the command is the connection's: its connect record names it.
  EXPECT_NE(csv.find("session.connect"), std::string::npos) << csv;
  EXPECT_NE(csv.find("session=" + m[1].str()), csv.find("command: echo")) << csv;
}

TEST_F(WinrmCommandsTest, EachCommandOfASessionIsAuditedNtlmToo) {
  startStandin({.auth = "ntlm", .env = {legacyEnv_}});
  startDaemon();
  addTarget();
  grant("alice", standin_->port());
  auto argv = clientArgs(httpUrl(), "ntlm", "alice", "echo twice");
  argv.insert(argv.end(), {"--repeat", "2"});
  auto r = client(argv);
  ASSERT_EQ(r.exitCode, 0) << r.err << daemon_->log();
  ASSERT_TRUE(waitAudit("command: echo twice")) << audit();
  std::string csv = jitctl({"audit", "--csv"}).out;
  size_t n = 0;
  for (size_t at = csv.find("command: echo twice"); at != std::string::npos;
       at = csv.find("command: echo twice", at + 1))
    ++n;
  EXPECT_EQ(n, 2u) << csv;
}

TEST_F(WinrmCommandsTest, ACommandTheGrantRefusesIsNotAuditedAsRun) {
  startStandin();
  startDaemon();
  addTarget();
  grant("alice", standin_->port());
  auto r = client(clientArgs(httpUrl(), "plaintext", "bob", "echo refused"));
  EXPECT_EQ(r.exitCode, 1);
  ASSERT_TRUE(waitAudit("session.refused")) << audit();
  EXPECT_EQ(audit().find("command: echo refused"), std::string::npos) << audit();
}

}  // namespace
}  // namespace jitgate
