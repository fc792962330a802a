// Live sessions end to end: a terminating session through the real ssh
// client is listed by `jitctl sessions` and ended by `jitctl session kill`,
// with who and why shown to the user and written to the audit log.
#include <fstream>

#include "ssh_bastion_fixture.hpp"

namespace jitgate {
namespace {

using namespace std::chrono_literals;

TEST_F(SshBastionTest, ALiveSessionIsListedAndKilledWithItsReasonShown) {
  auto id = grant(targetPort_);
  auto argv = sshArgs();
  argv.push_back("echo started; sleep 60");
  Background session(argv, dir_ / "s.out", dir_ / "s.err");
  std::string listed;
  for (int i = 0; i < 200; ++i) {
    listed = out({"sessions", "--json", "--user", user_->name()});
    if (listed.find("\"id\":\"s-") != std::string::npos &&
        testing::slurp(dir_ / "s.out") == "started\n")
      break;
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_NE(listed.find("\"front\":\"ssh\""), std::string::npos) << listed << daemon_->log();
  EXPECT_NE(listed.find("\"mode\":\"terminating\""), std::string::npos) << listed;
  EXPECT_NE(listed.find("\"target\":\"vm1\""), std::string::npos) << listed;
  EXPECT_NE(listed.find("\"grant\":\"" + id + "\""), std::string::npos) << listed;
  auto at = listed.find("\"id\":\"s-");
  std::string sid = listed.substr(at + 6, 18);
  // Another filter: nothing.
  EXPECT_EQ(out({"sessions", "--json", "--target", "nope"}), "[]");
  auto table = out({"sessions"});
  EXPECT_NE(table.find(sid), std::string::npos) << table;

  auto killedAt = std::chrono::steady_clock::now();
  auto r = jitctl({"session", "kill", sid, "--reason", "maintenance window"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.out.find("session " + sid + " of " + user_->name() + " on vm1 ended"),
            std::string::npos)
      << r.out;
  auto code = session.waitExit(5s);
  ASSERT_TRUE(code.has_value()) << "the session outlived its kill";
  EXPECT_LT(session.exitedAt() - killedAt, 1s);
  auto err = testing::slurp(dir_ / "s.err");
  EXPECT_NE(err.find("session ended by root: maintenance window"), std::string::npos) << err;
  EXPECT_EQ(out({"sessions", "--json"}), "[]");
  auto a = audit();
  EXPECT_NE(a.find("session.kill,ok,vm1"), std::string::npos) << a;
  EXPECT_NE(a.find("reason=killed"), std::string::npos) << a;
  EXPECT_NE(a.find("session=" + sid), std::string::npos) << a;
  // An id that is gone.
  r = jitctl({"session", "kill", sid});
  EXPECT_NE(r.exitCode, 0);
  EXPECT_NE(r.err.find("no live session"), std::string::npos) << r.err;
}

// Commands on record: every exec command line and every subsystem.
TEST_F(SshBastionTest, ExecCommandLinesAndSubsystemsAreAudited) {
  grant(targetPort_);
  auto r = ssh("echo on-record; exit 0");
  ASSERT_EQ(r.exitCode, 0) << r.err;
  std::ofstream(dir_ / "batch") << "pwd\n";
  auto sftp =
      testing::run({"/usr/bin/sftp", "-F", dir_ / "ssh_config", "-P", std::to_string(bastionPort_),
                    "-b", dir_ / "batch", user_->name() + "@vm1@127.0.0.1"},
                   dir_.path());
  ASSERT_EQ(sftp.exitCode, 0) << sftp.err;
  auto a = audit();
  EXPECT_NE(a.find("session.command,ok,vm1," + targetPort_), std::string::npos) << a;
  EXPECT_NE(a.find(" exec: echo on-record; exit 0"), std::string::npos) << a;
  EXPECT_NE(a.find(" subsystem: sftp"), std::string::npos) << a;
  EXPECT_NE(a.find("front=ssh session=s-"), std::string::npos) << a;
}

}  // namespace
}  // namespace jitgate
