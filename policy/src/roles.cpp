// Who a control-socket caller is: roles from SO_PEERCRED and the config.
#include "jitgate/roles.hpp"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace jitgate {
namespace {

bool listed(const RoleList& list, const std::string& name, const std::vector<std::string>& groups) {
  if (std::find(list.users.begin(), list.users.end(), name) != list.users.end()) return true;
  for (const auto& g : groups)
    if (std::find(list.groups.begin(), list.groups.end(), g) != list.groups.end()) return true;
  return false;
}

}  // namespace

bool Roles::can(Capability c) const {
  if (admin) return true;
  switch (c) {
    case Capability::ReadInventory:
      return requester || reader || securityReader;
    case Capability::ReadGrants:
      return reader || securityReader;
    case Capability::ReadAudit:
      return reader || securityReader;
    case Capability::ReadUsers:
      return securityReader;
    case Capability::RequestAccess:
      return requester;
    case Capability::Administer:
      return false;
  }
  return false;
}

std::vector<std::string> Roles::names() const {
  std::vector<std::string> out;
  if (admin) out.emplace_back("admin");
  if (requester) out.emplace_back("requester");
  if (reader) out.emplace_back("reader");
  if (securityReader) out.emplace_back("security_reader");
  return out;
}

Roles resolveRoles(const RoleConfig& config, uid_t uid, const std::string& name,
                   const std::vector<std::string>& groups, uid_t daemonUid) {
  Roles r;
  r.admin = uid == 0 || uid == daemonUid || listed(config.admins, name, groups);
  r.requester = listed(config.requesters, name, groups);
  r.reader = listed(config.readers, name, groups);
  r.securityReader = listed(config.securityReaders, name, groups);
  return r;
}

// Groups come from the user's passwd and group entries, not from the peer's
// effective gid: a setgid program or newgrp must not lend its group's roles.
Caller identifyCaller(uid_t uid, gid_t gid, pid_t pid, const RoleConfig& config, uid_t daemonUid) {
  Caller c;
  c.uid = uid;
  c.gid = gid;
  c.pid = pid;
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* pwp = nullptr;
  if (getpwuid_r(uid, &pw, buf.data(), buf.size(), &pwp) == 0 && pwp) {
    c.name = pwp->pw_name;
    std::vector<gid_t> gids(64);
    for (int attempt = 0; attempt < 4; ++attempt) {
      int n = static_cast<int>(gids.size());
      if (getgrouplist(pwp->pw_name, pwp->pw_gid, gids.data(), &n) != -1) {
        gids.resize(static_cast<size_t>(n));
        break;
      }
      gids.assign(static_cast<size_t>(n) + 16, pwp->pw_gid);
      if (attempt == 3) gids = {pwp->pw_gid};  // list keeps growing: primary group only
    }
    for (gid_t g : gids) {
      group gr{};
      group* grp = nullptr;
      std::vector<char> gbuf(16384);
      int rc;
      // Large groups (LDAP) need a larger buffer.
      while ((rc = getgrgid_r(g, &gr, gbuf.data(), gbuf.size(), &grp)) == ERANGE &&
             gbuf.size() < (1u << 24))
        gbuf.resize(gbuf.size() * 4);
      if (rc == 0 && grp) c.groups.emplace_back(grp->gr_name);
    }
  } else {
    // A uid with no passwd entry gets no name to match roles against.
    c.name = "uid:" + std::to_string(uid);
  }
  c.roles = resolveRoles(config, uid, c.name, c.groups, daemonUid);
  return c;
}

}  // namespace jitgate
