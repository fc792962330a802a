// The control API's operations as a table (one row per method and path, in
// the manner of OpenSSH monitor.c's mon_dispatch), and the Call each row's
// handler serves. Internal to the policy component.
#pragma once

#include <boost/beast/http/verb.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "jitgate/authority.hpp"
#include "jitgate/control_api.hpp"
#include "jitgate/engine.hpp"
#include "jitgate/live_sessions.hpp"
#include "jitgate/recordings.hpp"
#include "jitgate/roles.hpp"

namespace jitgate::control {

// What the path argument names, so that refusals are audited in the right
// column (Call::refuse maps them in this order).
enum class ArgKind { None, Target, Grant, Request, User, Session, Recording };

// Which roles admit an operation at all; finer checks (a requester sees
// only their own grants) happen while serving it.
enum class Access {
  Anyone,
  Inventory,      // status, targets, policies, CA public material
  GrantsOrOwn,    // all grants and requests, or one's own
  RequestAccess,  // a window for oneself; certificates for one's own grants
  Grants,         // every grant (the fronts' decision)
  Audit,
  Users,
  Admin,
};
bool admits(Access access, const Roles& roles);

enum class Body {
  None,           // a body is refused
  Object,         // a JSON object is required
  ObjectOrEmpty,  // an empty body reads as {}
};

struct Call;
using Handler = ApiResponse (*)(Call&);

struct Operation {
  boost::beast::http::verb method;
  std::string_view path;    // "/v1/targets/{}/policy": {} is the argument
  std::string_view action;  // the audit action
  Access access;
  ArgKind arg;
  Body body;
  std::string_view query;       // the known query parameters, comma-separated
  bool needsAuthority;          // refused as unavailable without the CA
  std::string_view bodyTarget;  // the body field a refusal's audit names as target
  Handler handler;
};

// Every operation, one row each.
std::span<const Operation> operations();

// Query parameters, each known by name; anything else is refused.
class Query {
 public:
  static Result<Query> parse(std::string_view target, std::string_view known);
  std::optional<std::string> get(const std::string& key) const;

 private:
  std::map<std::string, std::string> values_;
};

// One admitted request being served.
struct Call {
  Call(GrantEngine& engine, CertificateAuthority* authority, const std::string& version,
       std::chrono::steady_clock::time_point started, const Caller& caller, const Operation& op,
       std::string arg)
      : engine(engine),
        authority(authority),
        version(version),
        started(started),
        caller(caller),
        op(op),
        arg(std::move(arg)) {}

  GrantEngine& engine;
  CertificateAuthority* authority;
  LiveSessions* sessions = nullptr;  // this node's fronts (null: none running)
  Recordings* recordings = nullptr;  // this node's recordings (null: none kept)
  const std::string& version;
  std::chrono::steady_clock::time_point started;
  const Caller& caller;
  const Operation& op;
  std::string arg;           // the name or id in the path
  std::string auditTarget;   // what a refusal's audit entry names as target
  boost::json::object body;  // decoded before the handler runs (Body::None: empty)
  Query query;               // decoded before the handler runs

  // Whether the caller sees every grant and request (not only their own).
  bool seesAll() const { return caller.roles.can(Capability::ReadGrants); }
  // Audits the refusal and answers it.
  ApiResponse refuse(const Refusal& r);
};

ApiResponse jsonResponse(unsigned status, const boost::json::value& v);

// Live sessions (control_sessions.cpp).
ApiResponse listSessions(Call& c);
ApiResponse killSession(Call& c);

// Session recordings (control_recordings.cpp).
ApiResponse listRecordings(Call& c);
ApiResponse searchRecordings(Call& c);
ApiResponse getRecording(Call& c);
ApiResponse recordingCast(Call& c);
ApiResponse verifyRecording(Call& c);

}  // namespace jitgate::control
