// Reload planning: roles, control-socket limits and the log level apply live; every other changed
// key is named as waiting for a restart and keeps its running value.
#include "jitgate/service/reload.hpp"

#include <gtest/gtest.h>

namespace jitgate {
namespace {

TEST(Reload, NothingChanged) {
  DaemonConfig c;
  auto plan = planReload(c, c);
  EXPECT_FALSE(plan.changed());
  EXPECT_EQ(plan.describe(), "no change");
}

TEST(Reload, RolesAndLogLevelApply) {
  DaemonConfig running, reread;
  reread.roles.admins.users = {"carol"};
  reread.logLevel = "debug";
  auto plan = planReload(running, reread);
  EXPECT_EQ(plan.applied, (std::vector<std::string>{"log_level", "roles.admins"}));
  EXPECT_TRUE(plan.needRestart.empty());
  EXPECT_EQ(plan.next.roles.admins.users, reread.roles.admins.users);
  EXPECT_EQ(plan.next.logLevel, "debug");
  EXPECT_EQ(plan.describe(), "applied log_level, roles.admins");
}

TEST(Reload, ControlConnectionLimitsApply) {
  DaemonConfig running, reread;
  reread.control.maxConnectionsPerUid = 2;
  reread.control.adminReserve = 16;
  auto plan = planReload(running, reread);
  EXPECT_EQ(plan.applied,
            (std::vector<std::string>{"control.max_connections_per_uid", "control.admin_reserve"}));
  EXPECT_TRUE(plan.needRestart.empty());
  EXPECT_EQ(plan.next.control.maxConnectionsPerUid, 2);
  EXPECT_EQ(plan.next.control.adminReserve, 16);
}

TEST(Reload, OtherKeysWaitForARestartAndKeepTheirRunningValue) {
  DaemonConfig running, reread;
  reread.ssh.listen = ListenAddress{"127.0.0.1", 2200};
  reread.ssh.maxPerSource = 4;
  reread.stateDir = "/srv/jitgate";
  reread.roles.readers.groups = {"auditors"};
  auto plan = planReload(running, reread);
  EXPECT_EQ(plan.applied, (std::vector<std::string>{"roles.reader_groups"}));
  EXPECT_EQ(plan.needRestart,
            (std::vector<std::string>{"state_dir", "ssh.listen", "ssh.max_per_source"}));
  EXPECT_EQ(plan.next.ssh.listen->port, 2222);
  EXPECT_EQ(plan.next.ssh.maxPerSource, running.ssh.maxPerSource);
  EXPECT_EQ(plan.next.stateDir, running.stateDir);
  EXPECT_EQ(plan.next.roles.readers.groups, reread.roles.readers.groups);
  EXPECT_EQ(plan.describe(),
            "applied roles.reader_groups; needs a restart: state_dir, ssh.listen, "
            "ssh.max_per_source");
}

}  // namespace
}  // namespace jitgate
