// Roles of control-socket callers, from their Unix identity (SO_PEERCRED).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace jitgate {

// What a caller may do. Roles are not a ladder: a requester is not a reader.
enum class Capability {
  ReadInventory,  // status, targets, policies
  ReadGrants,     // every grant and request (a requester sees only their own)
  ReadAudit,      // the audit log and its CSV export
  ReadUsers,      // registered users and their key fingerprints
  RequestAccess,  // ask for a window for oneself
  Administer,     // everything that changes state
};

struct Roles {
  bool admin = false;
  bool requester = false;
  bool reader = false;
  bool securityReader = false;

  bool any() const { return admin || requester || reader || securityReader; }
  bool can(Capability c) const;
  std::vector<std::string> names() const;
};

struct RoleList {
  std::vector<std::string> users;
  std::vector<std::string> groups;
};

struct RoleConfig {
  RoleList admins, requesters, readers, securityReaders;
};

struct Caller {
  uid_t uid = static_cast<uid_t>(-1);
  gid_t gid = static_cast<gid_t>(-1);
  pid_t pid = 0;
  std::string name;                 // Unix user name ("uid:N" when it has none)
  std::vector<std::string> groups;  // names of the primary and supplementary groups
  Roles roles;
};

// Root and the daemon's own user are admins; everyone else gets the roles
// the config lists them (or one of their groups) under.
Roles resolveRoles(const RoleConfig& config, uid_t uid, const std::string& name,
                   const std::vector<std::string>& groups, uid_t daemonUid);

// Looks up the user name and group names of a uid/gid pair.
Caller identifyCaller(uid_t uid, gid_t gid, pid_t pid, const RoleConfig& config, uid_t daemonUid);

}  // namespace jitgate
