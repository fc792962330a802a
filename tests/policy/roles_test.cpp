// Roles from a caller's Unix identity, and what each role may do (the table
// in docs/CONTROL_API.md, "Callers and roles").
#include "jitgate/roles.hpp"

#include <gtest/gtest.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

namespace jitgate {
namespace {

constexpr uid_t kDaemonUid = 995;

RoleConfig config() {
  RoleConfig c;
  c.admins = {{"alice"}, {"wheel"}};
  c.requesters = {{"bob"}, {"devs"}};
  c.readers = {{"carol"}, {"auditors"}};
  c.securityReaders = {{"sam"}, {"sec"}};
  return c;
}

Roles resolve(uid_t uid, const std::string& name, std::vector<std::string> groups = {}) {
  return resolveRoles(config(), uid, name, groups, kDaemonUid);
}

using Names = std::vector<std::string>;

TEST(ResolveRoles, RootIsAdminWhateverTheConfig) {
  auto r = resolveRoles(RoleConfig{}, 0, "root", {}, kDaemonUid);
  EXPECT_TRUE(r.admin);
  EXPECT_EQ(r.names(), Names{"admin"});
  // Even under another name (a second uid-0 account).
  EXPECT_TRUE(resolveRoles(RoleConfig{}, 0, "toor", {}, kDaemonUid).admin);
}

TEST(ResolveRoles, DaemonUserIsAdmin) {
  auto r = resolveRoles(RoleConfig{}, kDaemonUid, "jitgate", {}, kDaemonUid);
  EXPECT_TRUE(r.admin);
  EXPECT_FALSE(resolveRoles(RoleConfig{}, kDaemonUid + 1, "jitgate", {}, kDaemonUid).admin);
}

TEST(ResolveRoles, ListedUsersGetTheirRoles) {
  EXPECT_EQ(resolve(1000, "alice").names(), Names{"admin"});
  EXPECT_EQ(resolve(1001, "bob").names(), Names{"requester"});
  EXPECT_EQ(resolve(1002, "carol").names(), Names{"reader"});
  EXPECT_EQ(resolve(1003, "sam").names(), Names{"security_reader"});
}

TEST(ResolveRoles, ListedGroupsGiveTheirRolesToMembers) {
  EXPECT_EQ(resolve(1010, "dave", {"users", "wheel"}).names(), Names{"admin"});
  EXPECT_EQ(resolve(1011, "erin", {"devs"}).names(), Names{"requester"});
  EXPECT_EQ(resolve(1012, "frank", {"auditors"}).names(), Names{"reader"});
  EXPECT_EQ(resolve(1013, "gina", {"sec"}).names(), Names{"security_reader"});
}

TEST(ResolveRoles, RolesAccumulate) {
  auto r = resolve(1020, "bob", {"sec", "auditors"});
  EXPECT_EQ(r.names(), (Names{"requester", "reader", "security_reader"}));
  EXPECT_FALSE(r.admin);
}

TEST(ResolveRoles, UnlistedGetNothing) {
  auto r = resolve(1030, "mallory", {"users", "staff"});
  EXPECT_FALSE(r.any());
  EXPECT_TRUE(r.names().empty());
  for (auto c : {Capability::ReadInventory, Capability::ReadGrants, Capability::ReadAudit,
                 Capability::ReadUsers, Capability::RequestAccess, Capability::Administer})
    EXPECT_FALSE(r.can(c));
}

TEST(ResolveRoles, MatchingIsExact) {
  EXPECT_FALSE(resolve(1040, "Alice").any());
  EXPECT_FALSE(resolve(1040, "alice ").any());
  EXPECT_FALSE(resolve(1040, "alic").any());
  EXPECT_FALSE(resolve(1040, "x", {"Wheel"}).any());
}

TEST(ResolveRoles, UserAndGroupNamesAreSeparate) {
  // A user called like an admin group is not an admin, nor a member of a group
  // called like an admin user.
  EXPECT_FALSE(resolve(1050, "wheel").admin);
  EXPECT_FALSE(resolve(1051, "zed", {"alice"}).admin);
}

// --- Roles::can: the table of docs/CONTROL_API.md ---------------------------------------

struct Row {
  Capability capability;
  const char* name;
  bool admin, securityReader, reader, requester;
};

// | capability                                       | admin | security_reader | reader | requester
// |
const Row kTable[] = {
    {Capability::ReadInventory, "status, targets, policies", true, true, true, true},
    // Requesters see their own grants and requests only: not this capability.
    {Capability::ReadGrants, "all grants and requests", true, true, true, false},
    {Capability::ReadAudit, "audit log", true, true, true, false},
    {Capability::ReadUsers, "users and key fingerprints", true, true, false, false},
    {Capability::RequestAccess, "request a window for oneself", true, false, false, true},
    {Capability::Administer, "change anything", true, false, false, false},
};

TEST(RolesCan, MatchesTheDocumentedTable) {
  Roles admin, sec, reader, requester;
  admin.admin = true;
  sec.securityReader = true;
  reader.reader = true;
  requester.requester = true;
  for (const Row& row : kTable) {
    EXPECT_EQ(admin.can(row.capability), row.admin) << "admin: " << row.name;
    EXPECT_EQ(sec.can(row.capability), row.securityReader) << "security_reader: " << row.name;
    EXPECT_EQ(reader.can(row.capability), row.reader) << "reader: " << row.name;
    EXPECT_EQ(requester.can(row.capability), row.requester) << "requester: " << row.name;
    EXPECT_FALSE(Roles{}.can(row.capability)) << "no role: " << row.name;
  }
}

TEST(RolesCan, CombinedRolesGetTheUnion) {
  Roles r;
  r.requester = true;
  r.reader = true;
  EXPECT_TRUE(r.can(Capability::RequestAccess));
  EXPECT_TRUE(r.can(Capability::ReadGrants));
  EXPECT_TRUE(r.can(Capability::ReadAudit));
  EXPECT_FALSE(r.can(Capability::ReadUsers));
  EXPECT_FALSE(r.can(Capability::Administer));
}

// --- identifyCaller ------------------------------------------------------------------------------

TEST(IdentifyCaller, RootHasANameGroupsAndIsAdmin) {
  auto c = identifyCaller(0, 0, 1, RoleConfig{}, kDaemonUid);
  EXPECT_EQ(c.uid, 0u);
  EXPECT_EQ(c.pid, 1);
  EXPECT_EQ(c.name, "root");
  EXPECT_NE(std::find(c.groups.begin(), c.groups.end(), "root"), c.groups.end());
  EXPECT_TRUE(c.roles.admin);
}

TEST(IdentifyCaller, UserGetsRolesThroughItsPrimaryGroupName) {
  // Root's primary group is "root": listing that group as readers applies.
  RoleConfig cfg;
  cfg.readers.groups = {"root"};
  auto c = identifyCaller(0, 0, 1, cfg, kDaemonUid);
  EXPECT_TRUE(c.roles.reader);
}

TEST(IdentifyCaller, UidWithoutPasswdEntryGetsNoName) {
  uid_t uid = 3999999;
  if (getpwuid(uid) != nullptr) GTEST_SKIP() << "uid " << uid << " exists on this host";
  RoleConfig cfg;
  cfg.readers.groups = {"root"};
  auto c = identifyCaller(uid, 0, 42, cfg, kDaemonUid);
  EXPECT_EQ(c.name, "uid:3999999");
  EXPECT_TRUE(c.groups.empty());
  // gid 0 is not looked up without a passwd entry, so the "root" group does not apply.
  EXPECT_FALSE(c.roles.any());
}

}  // namespace
}  // namespace jitgate
