// The SSH user name the bastion is given: "user" or "user@target", and every
// malformed form refused with the reason.
#include "jitgate/proxy/ssh_login.hpp"

#include <gtest/gtest.h>

#include <string>

namespace jitgate {
namespace {

TEST(SshLogin, UserAloneIsForwardingOnly) {
  auto l = parseSshLogin("alice");
  ASSERT_TRUE(l.ok()) << l.refusal().describe();
  EXPECT_EQ(l->user, "alice");
  EXPECT_EQ(l->target, "");
}

TEST(SshLogin, UserAtTargetNamesBoth) {
  auto l = parseSshLogin("alice.b-c_d@vm-1.prod");
  ASSERT_TRUE(l.ok()) << l.refusal().describe();
  EXPECT_EQ(l->user, "alice.b-c_d");
  EXPECT_EQ(l->target, "vm-1.prod");
}

TEST(SshLogin, RefusalsNameTheProblem) {
  struct Case {
    std::string text;
    std::string says;
  } cases[] = {
      {"", "empty"},
      {std::string("alice\0@vm1", 10), "control character"},
      {"alice\x1b[31m@vm1", "control character"},
      {"alice@vm1\n", "control character"},
      {"alice\x7f", "control character"},
      {std::string(131, 'a'), "longer than 130"},
      {"alice@vm1@x", "more than one '@'"},
      {"@vm1", "user ''"},
      {"alice@", "target ''"},
      {"-alice@vm1", "user '-alice'"},
      {"alice@.vm1", "target '.vm1'"},
      {"al ice@vm1", "user 'al ice'"},
      {"alice@vm1;rm", "target 'vm1;rm'"},
      {std::string(65, 'a') + "@vm1", "user '"},
      {"alice@" + std::string(65, 'v'), "target '"},
      {"\xc3\xa9t\xc3\xa9@vm1", "user '"},
  };
  for (const auto& c : cases) {
    auto l = parseSshLogin(c.text);
    ASSERT_FALSE(l.ok()) << "accepted: " << c.text;
    EXPECT_EQ(l.refusal().field, "user");
    EXPECT_NE(l.refusal().message.find(c.says), std::string::npos)
        << c.says << " not in: " << l.refusal().message;
    // Messages never carry raw control bytes back to a terminal or a log.
    for (unsigned char ch : l.refusal().message) EXPECT_GE(ch, 0x20) << l.refusal().message;
  }
}

TEST(SshLogin, LongestAcceptedNames) {
  auto l = parseSshLogin(std::string(64, 'u') + "@" + std::string(64, 't'));
  ASSERT_TRUE(l.ok()) << l.refusal().describe();
  EXPECT_EQ(l->user.size(), 64u);
  EXPECT_EQ(l->target.size(), 64u);
}

}  // namespace
}  // namespace jitgate
