// The bastion's command interface with the real OpenSSH client: a login with
// no target runs jitgate's verbs (ssh alice@bastion request ...), and what
// they grant is used to connect in the same test.
#include <boost/json.hpp>

#include "ssh_bastion_fixture.hpp"

namespace jitgate {
namespace {

namespace json = boost::json;
using testing::RunResult;

class SshInterfaceTest : public SshBastionTest {
 protected:
  // `ssh -p BASTION user@127.0.0.1 COMMAND`: the interface, no target.
  RunResult verb(const std::string& command, const std::string& config = "") {
    auto a = sshArgs({"-o", "LogLevel=ERROR"});  // stderr is the interface's alone
    a.back() = user_->name() + "@127.0.0.1";
    if (!config.empty()) a[2] = config;
    a.push_back(command);
    return testing::run(a, dir_.path());
  }
  json::value verbJson(const std::string& command) {
    auto r = verb(command + " --json");
    EXPECT_EQ(r.exitCode, 0) << command << ": " << r.err;
    return json::parse(r.out);
  }
};

TEST_F(SshInterfaceTest, ARequestOverTheBastionIsUsedToConnect) {
  auto who = verb("whoami");
  ASSERT_EQ(who.exitCode, 0) << who.err << daemon_->log();
  EXPECT_EQ(who.out, user_->name() + " (roles: requester) from 127.0.0.1\n");
  auto t = verb("targets");
  ASSERT_EQ(t.exitCode, 0) << t.err;
  EXPECT_NE(t.out.find("vm1"), std::string::npos) << t.out;
  EXPECT_NE(t.out.find(targetPort_), std::string::npos) << t.out;

  // Before the request: no grant.
  EXPECT_NE(ssh("echo hi").exitCode, 0);
  auto r = verb("request vm1 --port " + targetPort_ +
                " --for 10m --justification 'INC-42: db \"down\"'");
  ASSERT_EQ(r.exitCode, 0) << r.err << daemon_->log();
  EXPECT_NE(r.out.find("approved"), std::string::npos) << r.out;
  auto grants = verbJson("grants").as_array();
  ASSERT_EQ(grants.size(), 1u);
  std::string id = grants[0].at("id").as_string().c_str();
  EXPECT_EQ(grants[0].at("source").as_string(), "127.0.0.1/32");
  EXPECT_EQ(grants[0].at("justification").as_string(), "INC-42: db \"down\"");
  std::string end = grants[0].at("endTimeUtc").as_string().c_str();

  auto hi = ssh("echo hi");
  EXPECT_EQ(hi.exitCode, 0) << hi.err << daemon_->log();
  EXPECT_EQ(hi.out, "hi\n");

  auto e = verb("extend " + id + " 5m");
  ASSERT_EQ(e.exitCode, 0) << e.err;
  auto after = verbJson("grants").as_array();
  ASSERT_EQ(after.size(), 1u);
  auto moved = parseTimestamp(after[0].at("endTimeUtc").as_string().c_str()).value();
  EXPECT_EQ(moved - parseTimestamp(end).value(), std::chrono::minutes(5));
  auto over = verb("extend " + id + " 1d");
  EXPECT_EQ(over.exitCode, 1);
  EXPECT_NE(over.err.find("exceeds the maximum"), std::string::npos) << over.err;

  auto rv = verb("revoke " + id);
  ASSERT_EQ(rv.exitCode, 0) << rv.err;
  EXPECT_EQ(rv.out, "grant " + id + " is revoked\n");
  EXPECT_NE(ssh("echo hi").exitCode, 0);
  EXPECT_TRUE(verbJson("grants").as_array().empty());

  // Audited with the jitgate user as actor.
  auto csv = audit();
  EXPECT_NE(csv.find(user_->name() + ",request.create"), std::string::npos) << csv;
  EXPECT_NE(csv.find(user_->name() + ",grant.extend"), std::string::npos) << csv;
  EXPECT_NE(csv.find(user_->name() + ",grant.revoke"), std::string::npos) << csv;
  EXPECT_NE(csv.find("bastion.command"), std::string::npos) << csv;
}

TEST_F(SshInterfaceTest, MalformedCommandsAreRefusedWithOneLineAndChangeNothing) {
  for (std::string bad : {
           std::string("request vm1 --port abc --for 10m --justification x"),
           "request vm1 --port " + targetPort_ + " --for 10m",
           "request vm1 --port " + targetPort_ + " --for 10m --justification 'open",
           "request vm1 --port " + targetPort_ + " --for 10m --justification x --sudo",
           std::string("rm -rf /"),
       }) {
    auto r = verb(bad);
    EXPECT_EQ(r.exitCode, 2) << bad << ": " << r.err;
    EXPECT_EQ(r.out, "") << bad;
    EXPECT_EQ(r.err.rfind("jitgate: ", 0), 0u) << bad << ": " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << bad << ": " << r.err;
  }
  auto outside = verb("request vm1 --port 2222 --for 10m --justification x");
  EXPECT_EQ(outside.exitCode, 1) << outside.err;
  EXPECT_NE(outside.err.find("not configured"), std::string::npos) << outside.err;
  EXPECT_TRUE(verbJson("requests").as_array().empty());
  EXPECT_EQ(jitctl({"grants", "--json"}).out, "[]\n");
}

TEST_F(SshInterfaceTest, SomeoneElsesGrantIsNotHers) {
  auto other = keyAndConfig("bob");
  ASSERT_EQ(jitctl({"user", "add", "bob", "--key", dir_ / "bob.pub"}).exitCode, 0);
  std::string mine = grant(targetPort_);
  auto a = sshArgs();
  a[2] = other;
  a.back() = "bob@127.0.0.1";
  a.push_back("revoke " + mine);
  auto r = testing::run(a, dir_.path());
  EXPECT_EQ(r.exitCode, 1) << r.err;
  EXPECT_NE(r.err.find("no grant with id"), std::string::npos) << r.err;
  EXPECT_EQ(ssh("echo still").out, "still\n");
}

}  // namespace
}  // namespace jitgate
