#include "jitgate/control_api.hpp"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include "jitgate/codec.hpp"
#include "jitgate/json_input.hpp"

namespace jitgate {
namespace {

namespace json = boost::json;
namespace http = boost::beast::http;

enum class Op {
  Whoami,
  Status,
  ListTargets,
  GetTarget,
  AddTarget,
  RemoveTarget,
  ListPolicies,
  GetPolicy,
  SetPolicy,
  DisablePolicy,
  ListGrants,
  GetGrant,
  CreateGrant,
  RevokeGrant,
  ListRequests,
  GetRequest,
  CreateRequest,
  ApproveRequest,
  DenyRequest,
  ListUsers,
  AddUser,
  RemoveUser,
  Audit,
  Decide,
  IssueSshCert,
  IssueX509Cert,
  CaSsh,
  CaX509,
  CaKrl,
  CaRotate,
};

struct Route {
  Op op;
  std::string arg;  // the name or id in the path
};

// What the path argument names, so that refusals are audited in the right
// column.
enum class ArgKind { None, Target, Grant, Request, User };

ArgKind argKind(Op op) {
  switch (op) {
    case Op::GetTarget:
    case Op::RemoveTarget:
    case Op::GetPolicy:
    case Op::SetPolicy:
    case Op::DisablePolicy:
      return ArgKind::Target;
    case Op::GetGrant:
    case Op::RevokeGrant:
    case Op::IssueSshCert:
    case Op::IssueX509Cert:
      return ArgKind::Grant;
    case Op::GetRequest:
    case Op::ApproveRequest:
    case Op::DenyRequest:
      return ArgKind::Request;
    case Op::RemoveUser:
      return ArgKind::User;
    default:
      return ArgKind::None;
  }
}

const char* actionOf(Op op) {
  switch (op) {
    case Op::Whoami:
      return "control.whoami";
    case Op::Status:
      return "control.status";
    case Op::ListTargets:
      return "target.list";
    case Op::GetTarget:
      return "target.show";
    case Op::AddTarget:
      return "target.add";
    case Op::RemoveTarget:
      return "target.remove";
    case Op::ListPolicies:
      return "policy.list";
    case Op::GetPolicy:
      return "policy.show";
    case Op::SetPolicy:
      return "policy.enable";
    case Op::DisablePolicy:
      return "policy.disable";
    case Op::ListGrants:
      return "grant.list";
    case Op::GetGrant:
      return "grant.show";
    case Op::CreateGrant:
      return "grant.create";
    case Op::RevokeGrant:
      return "grant.revoke";
    case Op::ListRequests:
      return "request.list";
    case Op::GetRequest:
      return "request.show";
    case Op::CreateRequest:
      return "request.create";
    case Op::ApproveRequest:
      return "request.approve";
    case Op::DenyRequest:
      return "request.deny";
    case Op::ListUsers:
      return "user.list";
    case Op::AddUser:
      return "user.add";
    case Op::RemoveUser:
      return "user.remove";
    case Op::Audit:
      return "audit.read";
    case Op::Decide:
      return "decision.check";
    case Op::IssueSshCert:
      return "cert.issue";
    case Op::IssueX509Cert:
      return "cert.issue";
    case Op::CaSsh:
      return "ca.export";
    case Op::CaX509:
      return "ca.export";
    case Op::CaKrl:
      return "ca.krl";
    case Op::CaRotate:
      return "ca.rotate";
  }
  return "control.unknown";
}

// Whether the caller's roles admit the operation at all; finer checks
// (a requester sees only their own grants) happen while serving it.
bool admits(Op op, const Roles& r) {
  switch (op) {
    case Op::Whoami:
      return true;
    case Op::Status:
    case Op::ListTargets:
    case Op::GetTarget:
    case Op::ListPolicies:
    case Op::GetPolicy:
      return r.can(Capability::ReadInventory);
    case Op::ListGrants:
    case Op::GetGrant:
    case Op::ListRequests:
    case Op::GetRequest:
      return r.can(Capability::ReadGrants) || r.can(Capability::RequestAccess);
    case Op::CreateRequest:
      return r.can(Capability::RequestAccess);
    case Op::Audit:
      return r.can(Capability::ReadAudit);
    case Op::ListUsers:
      return r.can(Capability::ReadUsers);
    case Op::Decide:
      return r.can(Capability::ReadGrants);
    // A grant's user gets certificates for it; admins for anyone's.
    case Op::IssueSshCert:
    case Op::IssueX509Cert:
      return r.can(Capability::RequestAccess);
    case Op::CaSsh:
    case Op::CaX509:
    case Op::CaKrl:
      return r.can(Capability::ReadInventory);
    case Op::CaRotate:
      return r.can(Capability::Administer);
    case Op::AddTarget:
    case Op::RemoveTarget:
    case Op::SetPolicy:
    case Op::DisablePolicy:
    case Op::CreateGrant:
    case Op::RevokeGrant:
    case Op::ApproveRequest:
    case Op::DenyRequest:
    case Op::AddUser:
    case Op::RemoveUser:
      return r.can(Capability::Administer);
  }
  return false;
}

struct Matched {
  std::optional<Route> route;
  unsigned status = 404;  // when no route: 404 or 405
  std::string why;
};

Matched match(http::verb m, std::string_view target) {
  Matched out;
  auto parsed = boost::urls::parse_origin_form(target);
  if (!parsed) {
    out.status = 400;
    out.why = "malformed request target";
    return out;
  }
  std::vector<std::string> seg;
  for (auto s : parsed->segments()) {
    if (seg.size() > 5) break;
    seg.push_back(std::string(s));
  }
  auto is = [&](std::initializer_list<std::string_view> parts) {
    if (seg.size() != parts.size()) return false;
    size_t i = 0;
    for (auto p : parts) {
      if (p != "*" && seg[i] != p) return false;
      ++i;
    }
    return true;
  };
  auto pick = [&](std::initializer_list<std::pair<http::verb, Op>> ops, std::string arg = {}) {
    for (auto& [verb, op] : ops) {
      if (verb == m) {
        out.route = Route{op, arg};
        return;
      }
    }
    out.status = 405;
    out.why = "method not allowed on " + std::string(parsed->path());
  };
  using V = http::verb;
  if (seg.empty() || seg[0] != "v1") {
    out.why = "no such resource (the API lives under /v1)";
  } else if (is({"v1", "whoami"})) {
    pick({{V::get, Op::Whoami}});
  } else if (is({"v1", "status"})) {
    pick({{V::get, Op::Status}});
  } else if (is({"v1", "targets"})) {
    pick({{V::get, Op::ListTargets}, {V::post, Op::AddTarget}});
  } else if (is({"v1", "targets", "*"})) {
    pick({{V::get, Op::GetTarget}, {V::delete_, Op::RemoveTarget}}, seg[2]);
  } else if (is({"v1", "targets", "*", "policy"})) {
    pick({{V::get, Op::GetPolicy}, {V::put, Op::SetPolicy}, {V::delete_, Op::DisablePolicy}},
         seg[2]);
  } else if (is({"v1", "policies"})) {
    pick({{V::get, Op::ListPolicies}});
  } else if (is({"v1", "grants"})) {
    pick({{V::get, Op::ListGrants}, {V::post, Op::CreateGrant}});
  } else if (is({"v1", "grants", "*"})) {
    pick({{V::get, Op::GetGrant}, {V::delete_, Op::RevokeGrant}}, seg[2]);
  } else if (is({"v1", "grants", "*", "revoke"})) {
    pick({{V::post, Op::RevokeGrant}}, seg[2]);
  } else if (is({"v1", "grants", "*", "ssh-certificate"})) {
    pick({{V::post, Op::IssueSshCert}}, seg[2]);
  } else if (is({"v1", "grants", "*", "x509-certificate"})) {
    pick({{V::post, Op::IssueX509Cert}}, seg[2]);
  } else if (is({"v1", "ca", "ssh"})) {
    pick({{V::get, Op::CaSsh}});
  } else if (is({"v1", "ca", "ssh", "rotate"})) {
    pick({{V::post, Op::CaRotate}});
  } else if (is({"v1", "ca", "x509"})) {
    pick({{V::get, Op::CaX509}});
  } else if (is({"v1", "ca", "krl"})) {
    pick({{V::get, Op::CaKrl}});
  } else if (is({"v1", "requests"})) {
    pick({{V::get, Op::ListRequests}, {V::post, Op::CreateRequest}});
  } else if (is({"v1", "requests", "*"})) {
    pick({{V::get, Op::GetRequest}}, seg[2]);
  } else if (is({"v1", "requests", "*", "approve"})) {
    pick({{V::post, Op::ApproveRequest}}, seg[2]);
  } else if (is({"v1", "requests", "*", "deny"})) {
    pick({{V::post, Op::DenyRequest}}, seg[2]);
  } else if (is({"v1", "users"})) {
    pick({{V::get, Op::ListUsers}, {V::post, Op::AddUser}});
  } else if (is({"v1", "users", "*"})) {
    pick({{V::delete_, Op::RemoveUser}}, seg[2]);
  } else if (is({"v1", "audit"})) {
    pick({{V::get, Op::Audit}});
  } else if (is({"v1", "decision"})) {
    pick({{V::get, Op::Decide}});
  } else {
    out.why = "no such resource: " + std::string(parsed->path()).substr(0, 128);
  }
  return out;
}

unsigned statusOf(RefusalCode c) {
  switch (c) {
    case RefusalCode::InvalidArgument:
      return 400;
    case RefusalCode::NotFound:
      return 404;
    case RefusalCode::AlreadyExists:
      return 409;
    case RefusalCode::Conflict:
      return 409;
    case RefusalCode::Forbidden:
      return 403;
    case RefusalCode::PolicyViolation:
      return 422;
    case RefusalCode::Unavailable:
      return 503;
  }
  return 500;
}

ApiResponse jsonResponse(unsigned status, const json::value& v) {
  return {status, "application/json", json::serialize(v) + "\n"};
}

// Query parameters, each known by name; anything else is refused.
class Query {
 public:
  static Result<Query> parse(std::string_view target,
                             std::initializer_list<std::string_view> known) {
    Query q;
    auto u = boost::urls::parse_origin_form(target);
    if (!u) return invalid("query", "malformed request target");
    for (auto p : u->params()) {
      std::string key(p.key);
      bool ok = false;
      for (auto k : known) ok = ok || k == key;
      if (!ok) return invalid(key.substr(0, 64), "unknown query parameter");
      if (q.values_.count(key)) return invalid(key, "given twice");
      if (p.value.size() > 256) return invalid(key, "longer than 256 bytes");
      q.values_[key] = std::string(p.value);
    }
    return q;
  }
  std::optional<std::string> get(const std::string& k) const {
    auto it = values_.find(k);
    if (it == values_.end()) return std::nullopt;
    return it->second;
  }

 private:
  std::map<std::string, std::string> values_;
};

Result<bool> boolParam(const Query& q, const std::string& key) {
  auto v = q.get(key);
  if (!v) return false;
  if (*v == "true" || *v == "1" || v->empty()) return true;
  if (*v == "false" || *v == "0") return false;
  return invalid(key, "must be true or false");
}

}  // namespace

struct ControlApi::Call {
  ControlApi& api;
  const Caller& caller;
  Route route;
  std::string_view target;
  std::string_view body;
  std::string auditTarget;  // what the refusal audit entry names

  // The path argument, only once it is known to be a well-formed name.
  bool argValid() const { return validateName(route.arg, "path").ok(); }

  ApiResponse refuse(const Refusal& r) {
    AuditEntry e;
    e.actor = caller.name;
    e.action = actionOf(route.op);
    e.outcome = r.code == RefusalCode::Unavailable ? "error" : "denied";
    e.target = auditTarget;
    if (argValid()) {
      switch (argKind(route.op)) {
        case ArgKind::Target:
          e.target = route.arg;
          break;
        case ArgKind::Grant:
          e.grantId = route.arg;
          break;
        case ArgKind::Request:
          e.requestId = route.arg;
          break;
        case ArgKind::User:
          e.user = route.arg;
          break;
        case ArgKind::None:
          break;
      }
    }
    e.detail = std::string(refusalCodeName(r.code)) + ": " + r.describe();
    (void)api.engine_.record(std::move(e));
    return jsonResponse(statusOf(r.code), encode(r));
  }

  Result<json::object> bodyObject(bool emptyIsEmptyObject) {
    if (body.empty() && emptyIsEmptyObject) return json::object();
    if (body.empty()) return invalid("body", "expected a JSON object");
    return parseJsonObject(body);
  }

  ApiResponse serve();
  ApiResponse serveCa();
};

ControlApi::ControlApi(GrantEngine& engine, std::string version, CertificateAuthority* authority)
    : engine_(engine),
      authority_(authority),
      version_(std::move(version)),
      started_(std::chrono::steady_clock::now()) {}

std::optional<ApiResponse> ControlApi::admit(http::verb method, std::string_view target,
                                             const Caller& caller) {
  auto m = match(method, target);
  if (!m.route) {
    AuditEntry e;
    e.actor = caller.name;
    e.action = "control.refused";
    e.outcome = "denied";
    e.detail = std::string(http::to_string(method)) + " " + std::string(target.substr(0, 128)) +
               ": " + m.why;
    (void)engine_.record(std::move(e));
    Refusal r{m.status == 405 ? RefusalCode::InvalidArgument : RefusalCode::NotFound, "path",
              m.why};
    return jsonResponse(m.status, encode(r));
  }
  if (!admits(m.route->op, caller.roles)) {
    Call call{*this, caller, *m.route, target, {}, {}};
    std::string roles;
    for (const auto& n : caller.roles.names()) roles += (roles.empty() ? "" : ", ") + n;
    return call.refuse(Refusal{RefusalCode::Forbidden, "",
                               caller.name + " (roles: " + (roles.empty() ? "none" : roles) +
                                   ") may not " + actionOf(m.route->op)});
  }
  return std::nullopt;
}

ApiResponse ControlApi::refuseMalformed(unsigned status, const std::string& why,
                                        const Caller& caller) {
  AuditEntry e;
  e.actor = caller.name;
  e.action = "control.refused";
  e.outcome = "denied";
  e.detail = why;
  (void)engine_.record(std::move(e));
  return jsonResponse(status, encode(Refusal{RefusalCode::InvalidArgument, "request", why}));
}

ApiResponse ControlApi::handle(http::verb method, std::string_view target, std::string_view body,
                               const Caller& caller) {
  auto m = match(method, target);
  if (!m.route || !admits(m.route->op, caller.roles)) {
    // handle() without admit(): answer as admit would.
    if (auto r = admit(method, target, caller)) return *r;
  }
  Call call{*this, caller, *m.route, target, body, {}};
  return call.serve();
}

ApiResponse ControlApi::Call::serve() {
  GrantEngine& eng = api.engine_;
  const std::string& arg = route.arg;
  bool seesAll = caller.roles.can(Capability::ReadGrants);

  // Names and ids in the path follow the same rule as names in bodies; a
  // malformed one is refused without being echoed.
  if (argKind(route.op) != ArgKind::None) {
    if (auto st = validateName(arg, "path"); !st) return refuse(st.refusal());
  }

  // Bodies are read only by the operations that take one.
  switch (route.op) {
    case Op::AddTarget:
    case Op::SetPolicy:
    case Op::CreateGrant:
    case Op::CreateRequest:
    case Op::AddUser:
    case Op::DenyRequest:
    case Op::ApproveRequest:
    case Op::RevokeGrant:
    case Op::IssueSshCert:
    case Op::IssueX509Cert:
    case Op::CaRotate:
      break;
    default:
      if (!body.empty()) return refuse(invalid("body", "this request takes no body"));
  }
  // Queries are allowed only where documented; the routes that take one
  // parse it themselves.
  auto noQuery = [&]() -> Status {
    auto q = Query::parse(target, {});
    if (!q) return q.refusal();
    return okStatus();
  };
  switch (route.op) {
    case Op::ListGrants:
    case Op::ListRequests:
    case Op::Audit:
    case Op::Decide:
      break;
    default:
      if (auto st = noQuery(); !st) return refuse(st.refusal());
  }
  // Who used a target last, and from where, is other people's business to a
  // requester.
  auto scoped = [&](TargetView v) {
    if (!seesAll) {
      v.lastUser.clear();
      v.lastSource.clear();
    }
    return v;
  };

  switch (route.op) {
    case Op::Whoami: {
      json::array roles;
      for (const auto& n : caller.roles.names()) roles.emplace_back(n);
      json::array groups;
      for (const auto& g : caller.groups) groups.emplace_back(g);
      return jsonResponse(200, json::object{{"user", caller.name},
                                            {"uid", caller.uid},
                                            {"groups", std::move(groups)},
                                            {"roles", std::move(roles)}});
    }
    case Op::Status: {
      if (auto st = noQuery(); !st) return refuse(st.refusal());
      auto ts = eng.targets();
      if (!ts) return refuse(ts.refusal());
      int64_t configured = 0, notConfigured = 0, unsupported = 0;
      for (const auto& v : *ts) {
        if (v.state == TargetState::Configured) ++configured;
        if (v.state == TargetState::NotConfigured) ++notConfigured;
        if (v.state == TargetState::Unsupported) ++unsupported;
      }
      auto rs = eng.requests();
      if (!rs) return refuse(rs.refusal());
      int64_t pending = 0;
      for (const auto& r : *rs)
        if (r.state == RequestState::Pending && (seesAll || r.requester == caller.name)) ++pending;
      auto up =
          std::chrono::duration_cast<Seconds>(std::chrono::steady_clock::now() - api.started_);
      return jsonResponse(200,
                          json::object{{"version", api.version_},
                                       {"nowUtc", formatTimestamp(eng.now())},
                                       {"uptimeSeconds", up.count()},
                                       {"activeGrants", eng.activeGrantCount()},
                                       {"pendingRequests", pending},
                                       {"krlStale", api.authority_ && api.authority_->krlStale()},
                                       {"targets", json::object{{"configured", configured},
                                                                {"notConfigured", notConfigured},
                                                                {"unsupported", unsupported}}}});
    }
    case Op::ListTargets: {
      if (auto st = noQuery(); !st) return refuse(st.refusal());
      auto ts = eng.targets();
      if (!ts) return refuse(ts.refusal());
      for (auto& v : *ts) v = scoped(std::move(v));
      return jsonResponse(200, encodeAll(*ts));
    }
    case Op::GetTarget: {
      if (auto st = noQuery(); !st) return refuse(st.refusal());
      auto v = eng.targetView(arg);
      if (!v) return refuse(v.refusal());
      return jsonResponse(200, encode(scoped(std::move(*v))));
    }
    case Op::AddTarget: {
      auto o = bodyObject(false);
      if (!o) return refuse(o.refusal());
      if (auto* n = o->if_contains("name"); n && n->is_string())
        auditTarget = n->as_string().c_str();
      auto t = decodeTarget(*o);
      if (!t) return refuse(t.refusal());
      auto added = eng.addTarget(caller.name, *t);
      if (!added) return refuse(added.refusal());
      auto v = eng.targetView(added->name);
      if (!v) return refuse(v.refusal());
      return jsonResponse(201, encode(*v));
    }
    case Op::RemoveTarget: {
      if (auto st = noQuery(); !st) return refuse(st.refusal());
      if (auto st = eng.removeTarget(caller.name, arg); !st) return refuse(st.refusal());
      return jsonResponse(200, json::object{{"removed", arg}});
    }
    case Op::ListPolicies: {
      if (auto st = noQuery(); !st) return refuse(st.refusal());
      auto ps = eng.policies();
      if (!ps) return refuse(ps.refusal());
      return jsonResponse(200, encodeAll(*ps));
    }
    case Op::GetPolicy: {
      if (auto st = noQuery(); !st) return refuse(st.refusal());
      if (auto t = eng.findTarget(arg); !t || t->name != arg)
        return refuse(Refusal{RefusalCode::NotFound, "target", "no target named '" + arg + "'"});
      auto p = eng.policy(arg);
      if (!p) return refuse(p.refusal());
      if (!*p)
        return refuse(
            Refusal{RefusalCode::NotFound, "target", "target '" + arg + "' has no JIT policy"});
      return jsonResponse(200, encode(**p));
    }
    case Op::SetPolicy: {
      auto o = bodyObject(true);
      if (!o) return refuse(o.refusal());
      auto p = decodePolicy(*o, arg);
      if (!p) return refuse(p.refusal());
      auto set = eng.setPolicy(caller.name, *p);
      if (!set) return refuse(set.refusal());
      return jsonResponse(200, encode(*set));
    }
    case Op::DisablePolicy: {
      if (auto st = noQuery(); !st) return refuse(st.refusal());
      if (auto st = eng.disablePolicy(caller.name, arg); !st) return refuse(st.refusal());
      return jsonResponse(200, json::object{{"disabled", arg}});
    }
    case Op::ListGrants: {
      auto q = Query::parse(target, {"active", "user", "target"});
      if (!q) return refuse(q.refusal());
      auto active = boolParam(*q, "active");
      if (!active) return refuse(active.refusal());
      auto gs = eng.grants(*active);
      if (!gs) return refuse(gs.refusal());
      auto user = q->get("user");
      auto tgt = q->get("target");
      std::vector<Grant> out;
      for (auto& g : *gs) {
        if (!seesAll && g.user != caller.name) continue;
        if (user && g.user != *user) continue;
        if (tgt && g.target != *tgt) continue;
        out.push_back(std::move(g));
      }
      return jsonResponse(200, encodeAll(out));
    }
    case Op::GetGrant: {
      if (auto st = noQuery(); !st) return refuse(st.refusal());
      auto g = eng.findGrant(arg);
      if (!g) return refuse(g.refusal());
      // Someone else's grant is answered as absent to a requester.
      if (!*g || (!seesAll && (*g)->user != caller.name))
        return refuse(Refusal{RefusalCode::NotFound, "grant", "no grant with id '" + arg + "'"});
      return jsonResponse(200, encode(**g));
    }
    case Op::CreateGrant: {
      auto o = bodyObject(false);
      if (!o) return refuse(o.refusal());
      if (auto* n = o->if_contains("target"); n && n->is_string())
        auditTarget = n->as_string().c_str();
      auto in = decodeGrantInput(*o);
      if (!in) return refuse(in.refusal());
      auto g = eng.grant(caller.name, *in);
      if (!g) return refuse(g.refusal());
      return jsonResponse(201, encode(*g));
    }
    case Op::RevokeGrant: {
      if (auto st = noQuery(); !st) return refuse(st.refusal());
      auto o = bodyObject(true);
      if (!o) return refuse(o.refusal());
      if (auto st = ObjectReader(*o).finish(); !st) return refuse(st.refusal());
      auto g = eng.revoke(caller.name, arg);
      if (!g) return refuse(g.refusal());
      return jsonResponse(200, encode(*g));
    }
    case Op::ListRequests: {
      auto q = Query::parse(target, {"state"});
      if (!q) return refuse(q.refusal());
      std::optional<RequestState> state;
      if (auto s = q->get("state")) {
        auto parsed = parseRequestState(*s);
        if (!parsed) return refuse(parsed.refusal());
        state = *parsed;
      }
      auto rs = eng.requests();
      if (!rs) return refuse(rs.refusal());
      std::vector<AccessRequest> out;
      for (auto& r : *rs) {
        if (!seesAll && r.requester != caller.name) continue;
        if (state && r.state != *state) continue;
        out.push_back(std::move(r));
      }
      return jsonResponse(200, encodeAll(out));
    }
    case Op::GetRequest: {
      if (auto st = noQuery(); !st) return refuse(st.refusal());
      auto rs = eng.requests();
      if (!rs) return refuse(rs.refusal());
      for (auto& r : *rs)
        if (r.id == arg && (seesAll || r.requester == caller.name))
          return jsonResponse(200, encode(r));
      return refuse(Refusal{RefusalCode::NotFound, "request", "no request with id '" + arg + "'"});
    }
    case Op::CreateRequest: {
      auto o = bodyObject(false);
      if (!o) return refuse(o.refusal());
      if (auto* n = o->if_contains("target"); n && n->is_string())
        auditTarget = n->as_string().c_str();
      auto in = decodeRequestInput(*o);
      if (!in) return refuse(in.refusal());
      auto r = eng.request(caller.name, *in);
      if (!r) return refuse(r.refusal());
      return jsonResponse(201, encode(*r));
    }
    case Op::ApproveRequest: {
      auto o = bodyObject(true);
      if (!o) return refuse(o.refusal());
      if (auto st = ObjectReader(*o).finish(); !st) return refuse(st.refusal());
      auto r = eng.approve(caller.name, arg);
      if (!r) return refuse(r.refusal());
      return jsonResponse(200, encode(*r));
    }
    case Op::DenyRequest: {
      auto o = bodyObject(true);
      if (!o) return refuse(o.refusal());
      ObjectReader rd(*o);
      auto reason = rd.optionalString("reason", 512);
      if (!reason) return refuse(reason.refusal());
      if (auto st = rd.finish(); !st) return refuse(st.refusal());
      auto r = eng.deny(caller.name, arg, reason->value_or(""));
      if (!r) return refuse(r.refusal());
      return jsonResponse(200, encode(*r));
    }
    case Op::ListUsers: {
      if (auto st = noQuery(); !st) return refuse(st.refusal());
      auto us = eng.users();
      if (!us) return refuse(us.refusal());
      return jsonResponse(200, encodeAll(*us));
    }
    case Op::AddUser: {
      auto o = bodyObject(false);
      if (!o) return refuse(o.refusal());
      auto u = decodeUser(*o);
      if (!u) return refuse(u.refusal());
      auto added = eng.addUser(caller.name, *u);
      if (!added) return refuse(added.refusal());
      return jsonResponse(201, encode(*added));
    }
    case Op::RemoveUser: {
      if (auto st = noQuery(); !st) return refuse(st.refusal());
      if (auto st = eng.removeUser(caller.name, arg); !st) return refuse(st.refusal());
      return jsonResponse(200, json::object{{"removed", arg}});
    }
    case Op::Audit: {
      auto q = Query::parse(target, {"target", "since", "limit", "format"});
      if (!q) return refuse(q.refusal());
      AuditQuery aq;
      if (auto t = q->get("target")) {
        if (auto st = validateName(*t, "target"); !st) return refuse(st.refusal());
        aq.target = *t;
      }
      if (auto s = q->get("since")) {
        // An RFC 3339 time, or a duration meaning "that long ago".
        auto t = parseTimestamp(*s, "since");
        if (t) {
          aq.since = *t;
        } else {
          auto d = parseDuration(*s, "since");
          if (!d)
            return refuse(invalid("since", "must be an RFC 3339 time or a duration (24h, P7D)"));
          aq.since = eng.now() - *d;
        }
      }
      if (auto l = q->get("limit")) {
        size_t n = 0;
        if (l->empty() || l->size() > 7 ||
            l->find_first_not_of("0123456789") != std::string::npos || (n = std::stoul(*l)) == 0 ||
            n > 1000000)
          return refuse(invalid("limit", "must be 1..1000000"));
        aq.limit = n;
      }
      auto format = q->get("format").value_or("json");
      if (format != "json" && format != "csv")
        return refuse(invalid("format", "must be json or csv"));
      auto entries = eng.audit(aq);
      if (!entries) return refuse(entries.refusal());
      if (format == "csv") return {200, "text/csv; charset=utf-8", auditToCsv(*entries)};
      return jsonResponse(200, encodeAll(*entries));
    }
    case Op::IssueSshCert:
    case Op::IssueX509Cert:
    case Op::CaSsh:
    case Op::CaX509:
    case Op::CaKrl:
    case Op::CaRotate:
      return serveCa();
    case Op::Decide: {
      auto q = Query::parse(target, {"user", "target", "port", "source"});
      if (!q) return refuse(q.refusal());
      auto user = q->get("user"), tgt = q->get("target"), port = q->get("port"),
           source = q->get("source");
      if (!user || !tgt || !port || !source)
        return refuse(invalid("query", "user, target, port and source are required"));
      if (auto st = validateName(*user, "user"); !st) return refuse(st.refusal());
      if (auto st = validateName(*tgt, "target"); !st) return refuse(st.refusal());
      if (port->empty() || port->size() > 5 ||
          port->find_first_not_of("0123456789") != std::string::npos || std::stoul(*port) == 0 ||
          std::stoul(*port) > 65535)
        return refuse(invalid("port", "must be 1..65535"));
      auto addr = IpAddress::parse(*source, "source");
      if (!addr) return refuse(addr.refusal());
      auto d = eng.decide(*user, *tgt, static_cast<uint16_t>(std::stoul(*port)), *addr);
      return jsonResponse(200, encode(d));
    }
  }
  return refuse(Refusal{RefusalCode::NotFound, "path", "no such resource"});
}

ApiResponse ControlApi::Call::serveCa() {
  CertificateAuthority* ca = api.authority_;
  if (!ca)
    return refuse(
        Refusal{RefusalCode::Unavailable, "", "the certificate authority is not running"});
  const std::string& arg = route.arg;
  bool admin = caller.roles.can(Capability::Administer);
  switch (route.op) {
    case Op::IssueSshCert: {
      auto o = bodyObject(false);
      if (!o) return refuse(o.refusal());
      ObjectReader rd(*o);
      auto key = rd.requiredString("publicKey", 16384);
      if (!key) return refuse(key.refusal());
      if (auto st = rd.finish(); !st) return refuse(st.refusal());
      auto issued = ca->issueSsh(caller.name, admin, arg, *key);
      if (!issued) return refuse(issued.refusal());
      const auto& r = issued->record;
      return jsonResponse(201, json::object{{"certificate", issued->line},
                                            {"serial", std::to_string(r.serial)},
                                            {"keyId", r.keyId},
                                            {"principal", issued->principal},
                                            {"validAfterUtc", formatTimestamp(r.validAfter)},
                                            {"validBeforeUtc", formatTimestamp(r.validBefore)}});
    }
    case Op::IssueX509Cert: {
      auto o = bodyObject(true);
      if (!o) return refuse(o.refusal());
      if (auto st = ObjectReader(*o).finish(); !st) return refuse(st.refusal());
      auto issued = ca->issueX509(caller.name, admin, arg);
      if (!issued) return refuse(issued.refusal());
      const auto& r = issued->record;
      return jsonResponse(201, json::object{{"certificatePem", issued->material.certPem},
                                            {"privateKeyPem", issued->material.keyPem},
                                            {"caCertificatePem", ca->x509CaPem()},
                                            {"serial", std::to_string(r.serial)},
                                            {"user", r.user},
                                            {"validAfterUtc", formatTimestamp(r.validAfter)},
                                            {"validBeforeUtc", formatTimestamp(r.validBefore)}});
    }
    case Op::CaSsh: {
      auto keys = ca->trustedSshKeys();
      if (!keys) return refuse(keys.refusal());
      json::array list;
      std::string lines;
      for (const auto& k : *keys) {
        lines += k.publicKey + "\n";
        list.emplace_back(json::object{
            {"id", k.id},
            {"algorithm", k.algorithm},
            {"publicKey", k.publicKey},
            {"createdUtc", formatTimestamp(k.createdAt)},
            {"retiredUtc", k.retiredAt ? json::value(formatTimestamp(*k.retiredAt)) : nullptr},
            {"signing", !k.retiredAt}});
      }
      return jsonResponse(200,
                          json::object{{"keys", std::move(list)}, {"trustedUserCaKeys", lines}});
    }
    case Op::CaX509:
      return jsonResponse(200, json::object{{"certificatePem", ca->x509CaPem()}});
    case Op::CaKrl: {
      auto krl = ca->krl();
      if (!krl) return refuse(krl.refusal());
      return {200, "application/octet-stream", std::move(*krl)};
    }
    case Op::CaRotate: {
      auto o = bodyObject(true);
      if (!o) return refuse(o.refusal());
      ObjectReader rd(*o);
      auto alg = rd.optionalString("algorithm", 16);
      if (!alg) return refuse(alg.refusal());
      if (auto st = rd.finish(); !st) return refuse(st.refusal());
      std::optional<KeyAlgorithm> chosen;
      if (*alg) {
        auto a = parseKeyAlgorithm(**alg);
        if (!a) return refuse(a.refusal());
        chosen = *a;
      }
      auto rec = ca->rotateSsh(caller.name, chosen);
      if (!rec) return refuse(rec.refusal());
      return jsonResponse(
          200, json::object{
                   {"id", rec->id}, {"algorithm", rec->algorithm}, {"publicKey", rec->publicKey}});
    }
    default:
      return refuse(Refusal{RefusalCode::NotFound, "path", "no such resource"});
  }
}

}  // namespace jitgate
