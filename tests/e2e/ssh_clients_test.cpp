// Everyday SSH tools through the bastion, unchanged: OpenSSH multiplexing
// (ControlMaster), asyncssh and Ansible with its defaults, against a real
// sshd target.
#include <filesystem>
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
  // own status. A session that hangs is reported (124) rather than holding
  // the test until its timeout.
  std::ofstream(dir_ / "mux.sh") << "for i in $(seq 1 100); do\n"
                                 << "  k=$((i % 7 + 1))\n"
                                 << "  if [ $((i % 2)) -eq 0 ]; then\n"
                                 << "    timeout 60 " << quoted << "'" << dest
                                 << "' \"cat >/dev/null; exit $k\" <'" << (dir_ / "input") << "'\n"
                                 << "  else\n"
                                 << "    timeout 60 " << quoted << "-n '" << dest
                                 << "' \"exit $k\"\n"
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

// A login without a target answers a command itself (the bastion's command
// interface): a command it does not know gets the reason on stderr and exit
// status 2, at once (asyncssh waited forever before); a subsystem (sftp) is
// refused with FAILURE.
TEST_F(SshClientsTest, ACommandOnAForwardOnlyLoginIsAnsweredWithItsReason) {
  if (!haveAsyncssh()) GTEST_SKIP() << "python3-asyncssh is not installed (setup-deps.sh)";
  grant(targetPort_);
  auto r = asyncssh({"exec", "echo hi"}, user_->name());
  ASSERT_EQ(r.exitCode, 0) << r.out << r.err << daemon_->log();
  EXPECT_NE(r.out.find("\"exit_status\": 2"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"stdout\": \"\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("is not a command of the bastion"), std::string::npos) << r.out;
  auto w = asyncssh({"exec", "whoami"}, user_->name());
  EXPECT_NE(w.out.find("\"exit_status\": 0"), std::string::npos) << w.out;
  EXPECT_NE(w.out.find("(roles: requester)"), std::string::npos) << w.out;
  auto a = sshArgs();
  a.back() = user_->name() + "@127.0.0.1";
  a.push_back("echo hi");
  auto o = testing::run(a, dir_.path());
  EXPECT_EQ(o.exitCode, 2) << o.err;
  EXPECT_EQ(o.out, "");
  EXPECT_NE(o.err.find("log in as " + user_->name() + "@TARGET"), std::string::npos) << o.err;
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

// Ansible (Debian's ansible-core) with its defaults (ControlMaster=auto,
// ControlPersist=60s, sftp for files) runs a playbook with copy, template and
// a command against the real sshd through the bastion, in both modes, with
// the inventories docs/SSH.md gives.
class SshAnsibleTest : public SshClientsTest {
 protected:
  void SetUp() override {
    SshClientsTest::SetUp();
    if (HasFatalFailure() || IsSkipped()) return;
    if (::access("/usr/bin/ansible-playbook", X_OK) != 0)
      GTEST_SKIP() << "ansible-core is not installed (scripts/setup-deps.sh installs it)";
    std::ofstream(dir_ / "greeting.j2") << "hello {{ inventory_hostname }} from {{ who }}\n";
    std::ofstream(dir_ / "playbook.yml") << R"(- hosts: all
  gather_facts: false
  vars:
    who: jitgate
  tasks:
    - name: copy a file
      ansible.builtin.copy:
        content: "copied through the bastion\n"
        dest: "{{ dest }}/copied.txt"
    - name: render a template
      ansible.builtin.template:
        src: greeting.j2
        dest: "{{ dest }}/greeting.txt"
    - name: run a command
      ansible.builtin.command: sha256sum copied.txt greeting.txt
      args:
        chdir: "{{ dest }}"
      register: sums
    - name: keep what it printed
      ansible.builtin.copy:
        content: "{{ sums.stdout }}\n"
        dest: "{{ dest }}/sums.txt"
)";
  }
  void TearDown() override {
    // ControlPersist keeps a master in the background: stop each one.
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir_ / "home/.ansible/cp", ec))
      testing::run({testing::kSshPath, "-S", e.path().string(), "-O", "exit", "x"}, dir_.path());
    SshClientsTest::TearDown();
  }
  RunResult playbook(const std::string& inventory) {
    std::ofstream(dir_ / "inventory") << inventory;
    std::filesystem::create_directories(std::string(dir_ / "home"));
    std::ofstream(dir_ / "ansible.cfg") << "[defaults]\n";  // every default, none of /etc's
    return testing::run({"/usr/bin/ansible-playbook", "-i", dir_ / "inventory", "-e",
                         "dest=" + user_->home(), dir_ / "playbook.yml"},
                        dir_.path(), std::nullopt,
                        {"HOME=" + (dir_ / "home"), "ANSIBLE_NOCOLOR=1",
                         "ANSIBLE_CONFIG=" + (dir_ / "ansible.cfg")});
  }
  void expectPlaybookRan(const RunResult& r) {
    EXPECT_EQ(r.exitCode, 0) << r.out << r.err << daemon_->log();
    EXPECT_NE(r.out.find("failed=0"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("unreachable=0"), std::string::npos) << r.out;
    EXPECT_EQ(testing::slurp(user_->home() + "/copied.txt"), "copied through the bastion\n");
    EXPECT_EQ(testing::slurp(user_->home() + "/greeting.txt"), "hello vm1 from jitgate\n");
    auto sums = testing::slurp(user_->home() + "/sums.txt");
    EXPECT_NE(sums.find("  copied.txt\n"), std::string::npos) << sums;
    EXPECT_NE(sums.find("  greeting.txt\n"), std::string::npos) << sums;
    // The remote temporary directory was the user's own, not "~alice@vm1".
    EXPECT_TRUE(std::filesystem::is_directory(user_->home() + "/.ansible/tmp")) << r.out;
  }
};

// Terminating mode: the bastion is the host Ansible connects to; the target
// travels in the login name, set in ssh's own options (not ansible_user).
TEST_F(SshAnsibleTest, APlaybookRunsInTerminatingMode) {
  grant(targetPort_);
  auto r = playbook("vm1 ansible_host=127.0.0.1 ansible_port=" + std::to_string(bastionPort_) +
                    " ansible_ssh_common_args='-F " + (dir_ / "ssh_config") +
                    " -o User=" + user_->name() + "@vm1'\n");
  expectPlaybookRan(r);
  auto a = audit();
  EXPECT_NE(a.find("front=ssh"), std::string::npos) << a;
}

// Forward mode: ProxyJump through the bastion, the target's own sshd at the
// far end, the user's jitgate certificate for the window.
TEST_F(SshAnsibleTest, APlaybookRunsInForwardMode) {
  auto id = grant(targetPort_);
  ASSERT_EQ(
      jitctl({"cert", "ssh", id, "--pubkey", dir_ / "id.pub", "-o", dir_ / "id-cert.pub"}).exitCode,
      0);
  auto r = playbook("vm1 ansible_host=vm1 ansible_port=" + targetPort_ +
                    " ansible_user=" + user_->name() + " ansible_ssh_common_args='-F " +
                    (dir_ / "ssh_config") + " -o CertificateFile=" + (dir_ / "id-cert.pub") +
                    " -J " + user_->name() + "@127.0.0.1:" + std::to_string(bastionPort_) + "'\n");
  expectPlaybookRan(r);
  auto a = audit();
  EXPECT_NE(a.find("front=ssh-forward"), std::string::npos) << a;
}

}  // namespace
}  // namespace jitgate
