// Everyday SSH tools through the bastion, unchanged: OpenSSH multiplexing
// (ControlMaster), asyncssh and Ansible with its defaults, against a real
// sshd target.
#include <fstream>

#include "ssh_bastion_fixture.hpp"

namespace jitgate {
namespace {

using testing::RunResult;
using namespace std::chrono_literals;

class SshClientsTest : public SshBastionTest {
 protected:
  // asyncssh_client.py as `user` (the fixture's user if empty).
  RunResult asyncssh(const std::vector<std::string>& args, const std::string& user,
                     const std::vector<std::string>& env = {}) {
    std::vector<std::string> argv{"/usr/bin/python3",
                                  JITGATE_SOURCE_DIR "/tests/e2e/asyncssh_client.py",
                                  std::to_string(bastionPort_), dir_ / "id", user};
    argv.insert(argv.end(), args.begin(), args.end());
    return testing::run(argv, dir_.path(), std::nullopt, env);
  }
  bool haveAsyncssh() {
    return testing::run({"/usr/bin/python3", "-c", "import asyncssh"}, dir_.path()).exitCode == 0;
  }
};

// OpenSSH's ControlMaster carries every session over one connection; the
// target's EOF, exit status and close must reach each in that order, or the
// multiplexing client reports 255 (Ansible: "Data could not be sent").
TEST_F(SshClientsTest, MultiplexedSessionsEachGetTheirExitStatus) {
  grant(targetPort_);
  std::string control = dir_ / "mux.sock";
  auto base = sshArgs({"-S", control});
  base.pop_back();  // the destination goes last
  std::string dest = user_->name() + "@vm1@127.0.0.1";
  std::vector<std::string> master = base;
  master.insert(master.end(), {"-M", "-N", dest});
  Background m(master, dir_ / "master.out", dir_ / "master.err");
  bool up = false;
  for (int i = 0; i < 200 && !up; ++i) {
    std::vector<std::string> check = base;
    check.insert(check.end(), {"-O", "check", dest});
    up = testing::run(check, dir_.path()).exitCode == 0;
    if (!up) std::this_thread::sleep_for(50ms);
  }
  ASSERT_TRUE(up) << testing::slurp(dir_ / "master.err") << daemon_->log();

  std::ofstream(dir_ / "input") << std::string(100000, 'x') << "\n";
  std::string quoted;
  for (const auto& a : base) quoted += "'" + a + "' ";
  // 100 sessions, every other one with data on stdin; each exits with its
  // own status.
  std::ofstream(dir_ / "mux.sh") << "for i in $(seq 1 100); do\n"
                                 << "  k=$((i % 7 + 1))\n"
                                 << "  if [ $((i % 2)) -eq 0 ]; then\n"
                                 << "    " << quoted << "'" << dest
                                 << "' \"cat >/dev/null; exit $k\" <'" << (dir_ / "input") << "'\n"
                                 << "  else\n"
                                 << "    " << quoted << "-n '" << dest << "' \"exit $k\"\n"
                                 << "  fi\n"
                                 << "  echo \"$i $k $?\"\n"
                                 << "done\n";
  auto r = testing::run({"/bin/sh", dir_ / "mux.sh"}, dir_.path());
  ASSERT_EQ(r.exitCode, 0) << r.err;
  std::istringstream lines(r.out);
  int i = 0, k = 0, rc = 0, seen = 0, wrong = 0;
  std::string report;
  while (lines >> i >> k >> rc) {
    ++seen;
    if (rc != k) {
      ++wrong;
      report +=
          std::to_string(i) + ": wanted " + std::to_string(k) + " got " + std::to_string(rc) + "\n";
    }
  }
  EXPECT_EQ(seen, 100) << r.out;
  EXPECT_EQ(wrong, 0) << report << r.err.substr(0, 4000);
  std::vector<std::string> exit = base;
  exit.insert(exit.end(), {"-O", "exit", dest});
  testing::run(exit, dir_.path());
  EXPECT_TRUE(m.waitExit(10s).has_value());
}

// A forward-only login (no target) answers a command itself: the reason on
// stderr and exit status 1, at once (asyncssh waited forever before); a
// subsystem (sftp) is refused with FAILURE.
TEST_F(SshClientsTest, ACommandOnAForwardOnlyLoginIsAnsweredWithItsReason) {
  if (!haveAsyncssh()) GTEST_SKIP() << "python3-asyncssh is not installed (setup-deps.sh)";
  grant(targetPort_);
  auto r = asyncssh({"exec", "echo hi"}, user_->name());
  ASSERT_EQ(r.exitCode, 0) << r.out << r.err << daemon_->log();
  EXPECT_NE(r.out.find("\"exit_status\": 1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"stdout\": \"\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("is authenticated for forwarding only"), std::string::npos) << r.out;
  auto a = sshArgs();
  a.back() = user_->name() + "@127.0.0.1";
  a.push_back("echo hi");
  auto o = testing::run(a, dir_.path());
  EXPECT_EQ(o.exitCode, 1) << o.err;
  EXPECT_EQ(o.out, "");
  EXPECT_NE(o.err.find("is authenticated for forwarding only"), std::string::npos) << o.err;
  auto sftp =
      testing::run({"/usr/bin/sftp", "-F", dir_ / "ssh_config", "-P", std::to_string(bastionPort_),
                    "-b", "/dev/null", user_->name() + "@127.0.0.1"},
                   dir_.path());
  EXPECT_NE(sftp.exitCode, 0);
  EXPECT_NE(sftp.err.find("subsystem request failed"), std::string::npos) << sftp.err;
}

// The same library in terminating mode: the command's status comes back.
TEST_F(SshClientsTest, AsyncsshRunsACommandOnTheTarget) {
  if (!haveAsyncssh()) GTEST_SKIP() << "python3-asyncssh is not installed (setup-deps.sh)";
  grant(targetPort_);
  auto r = asyncssh({"exec", "echo hi; exit 3"}, user_->name() + "@vm1");
  ASSERT_EQ(r.exitCode, 0) << r.out << r.err << daemon_->log();
  EXPECT_NE(r.out.find("\"exit_status\": 3"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"stdout\": \"hi\\n\""), std::string::npos) << r.out;
}

// Agent forwarding is not offered: the client hears why, the command runs.
TEST_F(SshClientsTest, AgentForwardingIsRefusedWithAReason) {
  if (!haveAsyncssh()) GTEST_SKIP() << "python3-asyncssh is not installed (setup-deps.sh)";
  grant(targetPort_);
  std::string agent = dir_ / "agent.sock";
  Background agentd({"/usr/bin/ssh-agent", "-D", "-a", agent}, dir_ / "agent.out",
                    dir_ / "agent.err");
  for (int i = 0; i < 100 && ::access(agent.c_str(), F_OK) != 0; ++i)
    std::this_thread::sleep_for(20ms);
  auto r = asyncssh({"agent"}, user_->name() + "@vm1", {"SSH_AUTH_SOCK=" + agent});
  ASSERT_EQ(r.exitCode, 0) << r.out << r.err << daemon_->log();
  EXPECT_NE(r.out.find("agent forwarding"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"exit_status\": 0"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace jitgate
