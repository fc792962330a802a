// The effective settings: every key, TOML that loadConfig reads back to the
// same settings, and the start-up checks --check-config runs.
#include "jitgate/service/effective_config.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <set>

#include "../support/test_support.hpp"

namespace jitgate {
namespace {

using testing::TempDir;

DaemonConfig readBack(const TempDir& dir, const std::string& toml) {
  std::string path = dir / "c.toml";
  std::ofstream(path) << toml;
  ::chmod(path.c_str(), 0600);
  auto c = loadConfig(path);
  EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.refusal().describe()) << "\n" << toml;
  return c.ok() ? *c : DaemonConfig{};
}

TEST(EffectiveConfig, DefaultsPrintAsTomlThatReadsBackTheSame) {
  TempDir dir;
  DaemonConfig defaults;
  auto toml = effectiveConfigToml(defaults);
  EXPECT_NE(toml.find("state_dir = \"/var/lib/jitgate\""), std::string::npos) << toml;
  EXPECT_NE(toml.find("[metrics]\nlisten = \"127.0.0.1:9620\""), std::string::npos) << toml;
  EXPECT_NE(toml.find("[ssh]\nlisten = \"0.0.0.0:2222\""), std::string::npos) << toml;
  EXPECT_NE(toml.find("warn_before = \"300s\""), std::string::npos) << toml;
  EXPECT_EQ(effectiveConfigToml(readBack(dir, toml)), toml);
}

TEST(EffectiveConfig, ChangedSettingsSurviveTheRoundTrip) {
  TempDir dir;
  DaemonConfig c;
  c.roles.admins.users = {"alice", "quote\"d\\"};
  c.roles.readers.groups = {"auditors"};
  c.logLevel = "debug";
  c.ssh.listen = std::nullopt;
  c.ssh.warnBefore = std::chrono::seconds(0);
  c.winrm.httpsListen = ListenAddress{"::1", 5986};
  c.metrics.listen = ListenAddress{"127.0.0.1", 0};
  auto toml = effectiveConfigToml(c);
  EXPECT_NE(toml.find("listen = \"off\""), std::string::npos) << toml;
  EXPECT_NE(toml.find("https_listen = \"[::1]:5986\""), std::string::npos) << toml;
  auto back = readBack(dir, toml);
  EXPECT_EQ(back.roles.admins.users, c.roles.admins.users);
  EXPECT_EQ(back.roles.readers.groups, c.roles.readers.groups);
  EXPECT_FALSE(back.ssh.listen);
  EXPECT_EQ(effectiveConfigToml(back), toml);
}

TEST(EffectiveConfig, TheStoreUrlIsShownWithoutItsPassword) {
  TempDir dir;
  DaemonConfig c;
  c.store.url = "postgresql://jitgate:hunter2@db.example.org/jitgate";
  c.store.grace = std::chrono::seconds(30);
  auto toml = effectiveConfigToml(c);
  EXPECT_EQ(toml.find("hunter2"), std::string::npos) << toml;
  EXPECT_NE(toml.find("[store]\nurl = \"postgresql://jitgate:***@db.example.org/jitgate\"\n"
                      "grace = \"30s\""),
            std::string::npos)
      << toml;
  EXPECT_EQ(readBack(dir, toml).store.grace, std::chrono::seconds(30));
}

TEST(EffectiveConfig, EveryKeyOnce) {
  auto settings = effectiveSettings(DaemonConfig{});
  std::set<std::string> keys;
  for (const auto& s : settings) EXPECT_TRUE(keys.insert(s.key).second) << s.key;
  for (const char* k : {"roles.security_reader_groups", "ca.upn_domain", "winrm.max_connections",
                        "ssh.login_grace_time", "metrics.listen"})
    EXPECT_TRUE(keys.count(k)) << k;
}

TEST(EffectiveConfig, StartUpChecksNameTheSetting) {
  DaemonConfig c;
  c.stateDir = "relative";
  auto st = checkDaemonConfig(c);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.refusal().field, "state_dir");
  c = {};
  c.controlSocketGroup = "no-such-group-jitgate";
  st = checkDaemonConfig(c);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.refusal().field, "control_socket_group");
  c = {};
  c.winrm.tlsCert = "/nonexistent/cert.pem";
  c.winrm.tlsKey = "/nonexistent/key.pem";
  st = checkDaemonConfig(c);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.refusal().field, "winrm.tls_cert");
  c = {};
  c.controlSocketGroup = "root";
  EXPECT_TRUE(checkDaemonConfig(c).ok());
  EXPECT_EQ(controlSocketGid(c).value(), std::optional<gid_t>(0));
}

}  // namespace
}  // namespace jitgate
