// The control API's operations: the table (one row per method and path) and
// each row's handler. Handlers get the path argument, the query and the body
// already checked and decoded as their row says (control_api.cpp).
#include "control_operations.hpp"

#include <functional>

#include "jitgate/codec.hpp"
#include "jitgate/json_input.hpp"

namespace jitgate::control {
namespace {

namespace json = boost::json;
using boost::beast::http::verb;

// Who used a target last, and from where, is other people's business to a
// requester.
TargetView scoped(const Call& c, TargetView v) {
  if (!c.seesAll()) {
    v.lastUser.clear();
    v.lastSource.clear();
  }
  return v;
}

// A whole number in [min, max] written in at most `digits` digits.
std::optional<size_t> number(const std::string& s, size_t digits, size_t min, size_t max) {
  if (s.empty() || s.size() > digits || s.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  size_t n = std::stoul(s);
  if (n < min || n > max) return std::nullopt;
  return n;
}

// Answers `r` with `status` when it holds a value, else refuses it.
template <class T, class Encode>
ApiResponse answer(Call& c, unsigned status, const Result<T>& r, Encode&& enc) {
  if (!r) return c.refuse(r.refusal());
  return jsonResponse(status, enc(*r));
}

template <class T>
ApiResponse answer(Call& c, unsigned status, const Result<T>& r) {
  return answer(c, status, r, [](const T& v) { return encode(v); });
}

template <class T>
ApiResponse answerAll(Call& c, const Result<std::vector<T>>& r) {
  return answer(c, 200, r, [](const std::vector<T>& v) { return encodeAll(v); });
}

ApiResponse done(Call& c, const Status& st, const char* key) {
  if (!st) return c.refuse(st.refusal());
  return jsonResponse(200, json::object{{key, c.arg}});
}

// A body that must be {} (an empty body reads as {}).
Status emptyBody(Call& c) { return ObjectReader(c.body).finish(); }

// 201 with what the engine's `change` made of the decoded body `in`.
template <class In, class Change>
ApiResponse created(Call& c, const Result<In>& in, Change change) {
  if (!in) return c.refuse(in.refusal());
  return answer(c, 201, std::invoke(change, c.engine, c.caller.name, *in));
}

// An empty body, then the engine's `change` to what the path names.
template <class Change>
ApiResponse onEmptyBody(Call& c, Change change) {
  if (auto st = emptyBody(c); !st) return c.refuse(st.refusal());
  return answer(c, 200, std::invoke(change, c.engine, c.caller.name, c.arg));
}

ApiResponse whoami(Call& c) {
  json::array roles;
  for (const auto& n : c.caller.roles.names()) roles.emplace_back(n);
  json::array groups;
  for (const auto& g : c.caller.groups) groups.emplace_back(g);
  return jsonResponse(200, json::object{{"user", c.caller.name},
                                        {"uid", c.caller.uid},
                                        {"groups", std::move(groups)},
                                        {"roles", std::move(roles)}});
}

// The store's state for status: it answers even when the store does not.
json::object storeStatus(const GrantEngine& engine) {
  auto h = engine.storeHealth();
  json::object o{{"backend", h.backend},
                 {"where", h.where},
                 {"reachable", h.reachable && engine.storeReachable()},
                 {"heldAuditEntries", engine.heldAuditCount()}};
  if (h.unreachableSince) o["unreachableSinceUtc"] = formatTimestamp(*h.unreachableSince);
  if (!h.detail.empty()) o["detail"] = h.detail;
  return o;
}

ApiResponse status(Call& c) {
  auto ts = c.engine.targets();
  if (!ts && ts.refusal().code == RefusalCode::StoreUnavailable) {
    // What is known without the store, and why the rest is not.
    auto up = std::chrono::duration_cast<Seconds>(std::chrono::steady_clock::now() - c.started);
    return jsonResponse(200, json::object{{"version", c.version},
                                          {"nowUtc", formatTimestamp(c.engine.now())},
                                          {"uptimeSeconds", up.count()},
                                          {"activeGrants", c.engine.activeGrantCount()},
                                          {"store", storeStatus(c.engine)}});
  }
  if (!ts) return c.refuse(ts.refusal());
  int64_t configured = 0, notConfigured = 0, unsupported = 0;
  for (const auto& v : *ts) {
    if (v.state == TargetState::Configured) ++configured;
    if (v.state == TargetState::NotConfigured) ++notConfigured;
    if (v.state == TargetState::Unsupported) ++unsupported;
  }
  auto rs = c.engine.requests();
  if (!rs) return c.refuse(rs.refusal());
  int64_t pending = 0;
  for (const auto& r : *rs)
    if (r.state == RequestState::Pending && (c.seesAll() || r.requester == c.caller.name))
      ++pending;
  auto up = std::chrono::duration_cast<Seconds>(std::chrono::steady_clock::now() - c.started);
  return jsonResponse(200, json::object{{"version", c.version},
                                        {"nowUtc", formatTimestamp(c.engine.now())},
                                        {"uptimeSeconds", up.count()},
                                        {"activeGrants", c.engine.activeGrantCount()},
                                        {"pendingRequests", pending},
                                        {"krlStale", c.authority && c.authority->krlStale()},
                                        {"store", storeStatus(c.engine)},
                                        {"targets", json::object{{"configured", configured},
                                                                 {"notConfigured", notConfigured},
                                                                 {"unsupported", unsupported}}}});
}

ApiResponse listNodes(Call& c) { return answerAll(c, c.engine.nodes()); }

ApiResponse listTargets(Call& c) {
  auto ts = c.engine.targets();
  if (!ts) return c.refuse(ts.refusal());
  for (auto& v : *ts) v = scoped(c, std::move(v));
  return jsonResponse(200, encodeAll(*ts));
}

ApiResponse getTarget(Call& c) {
  return answer(c, 200, c.engine.targetView(c.arg),
                [&](const TargetView& v) { return encode(scoped(c, v)); });
}

ApiResponse addTarget(Call& c) {
  auto t = decodeTarget(c.body);
  if (!t) return c.refuse(t.refusal());
  auto added = c.engine.addTarget(c.caller.name, *t);
  if (!added) return c.refuse(added.refusal());
  return answer(c, 201, c.engine.targetView(added->name));
}

ApiResponse removeTarget(Call& c) {
  return done(c, c.engine.removeTarget(c.caller.name, c.arg), "removed");
}

ApiResponse listPolicies(Call& c) { return answerAll(c, c.engine.policies()); }

ApiResponse getPolicy(Call& c) {
  if (auto t = c.engine.findTarget(c.arg); !t || t->name != c.arg)
    return c.refuse(Refusal{RefusalCode::NotFound, "target", "no target named '" + c.arg + "'"});
  auto p = c.engine.policy(c.arg);
  if (!p) return c.refuse(p.refusal());
  if (!*p)
    return c.refuse(
        Refusal{RefusalCode::NotFound, "target", "target '" + c.arg + "' has no JIT policy"});
  return jsonResponse(200, encode(**p));
}

ApiResponse setPolicy(Call& c) {
  auto p = decodePolicy(c.body, c.arg);
  if (!p) return c.refuse(p.refusal());
  return answer(c, 200, c.engine.setPolicy(c.caller.name, *p));
}

ApiResponse disablePolicy(Call& c) {
  return done(c, c.engine.disablePolicy(c.caller.name, c.arg), "disabled");
}

ApiResponse listGrants(Call& c) {
  auto active = c.query.get("active");
  bool activeOnly = false;
  if (active && (*active == "true" || *active == "1" || active->empty()))
    activeOnly = true;
  else if (active && *active != "false" && *active != "0")
    return c.refuse(invalid("active", "must be true or false"));
  auto gs = c.engine.grants(activeOnly);
  if (!gs) return c.refuse(gs.refusal());
  auto user = c.query.get("user");
  auto tgt = c.query.get("target");
  std::vector<Grant> out;
  for (auto& g : *gs) {
    if (!c.seesAll() && g.user != c.caller.name) continue;
    if (user && g.user != *user) continue;
    if (tgt && g.target != *tgt) continue;
    out.push_back(std::move(g));
  }
  return jsonResponse(200, encodeAll(out));
}

ApiResponse getGrant(Call& c) {
  auto g = c.engine.findGrant(c.arg);
  if (!g) return c.refuse(g.refusal());
  // Someone else's grant is answered as absent to a requester.
  if (!*g || (!c.seesAll() && (*g)->user != c.caller.name))
    return c.refuse(Refusal{RefusalCode::NotFound, "grant", "no grant with id '" + c.arg + "'"});
  return jsonResponse(200, encode(**g));
}

ApiResponse createGrant(Call& c) {
  return created(c, decodeGrantInput(c.body), &GrantEngine::grant);
}

// An admin's, or the caller's own: someone else's is answered as absent.
Status ownGrant(Call& c) {
  if (c.caller.roles.can(Capability::Administer)) return okStatus();
  auto g = c.engine.findGrant(c.arg);
  if (!g) return g.refusal();
  if (!*g || (*g)->user != c.caller.name)
    return Refusal{RefusalCode::NotFound, "grant", "no grant with id '" + c.arg + "'"};
  return okStatus();
}

ApiResponse revokeGrant(Call& c) {
  if (auto st = ownGrant(c); !st) return c.refuse(st.refusal());
  return onEmptyBody(c, &GrantEngine::revoke);
}

ApiResponse extendGrant(Call& c) {
  if (auto st = ownGrant(c); !st) return c.refuse(st.refusal());
  ObjectReader rd(c.body);
  auto text = rd.requiredString("duration", 32);
  if (!text) return c.refuse(text.refusal());
  if (auto st = rd.finish(); !st) return c.refuse(st.refusal());
  auto by = parseDuration(*text, "duration");
  if (!by) return c.refuse(by.refusal());
  return answer(
      c, 200,
      c.engine.extend(c.caller.name, c.arg, *by, c.caller.roles.can(Capability::Administer)));
}

ApiResponse listRequests(Call& c) {
  std::optional<RequestState> state;
  if (auto s = c.query.get("state")) {
    auto parsed = parseRequestState(*s);
    if (!parsed) return c.refuse(parsed.refusal());
    state = *parsed;
  }
  auto rs = c.engine.requests();
  if (!rs) return c.refuse(rs.refusal());
  std::vector<AccessRequest> out;
  for (auto& r : *rs) {
    if (!c.seesAll() && r.requester != c.caller.name) continue;
    if (state && r.state != *state) continue;
    out.push_back(std::move(r));
  }
  return jsonResponse(200, encodeAll(out));
}

ApiResponse getRequest(Call& c) {
  auto rs = c.engine.requests();
  if (!rs) return c.refuse(rs.refusal());
  for (auto& r : *rs)
    if (r.id == c.arg && (c.seesAll() || r.requester == c.caller.name))
      return jsonResponse(200, encode(r));
  return c.refuse(Refusal{RefusalCode::NotFound, "request", "no request with id '" + c.arg + "'"});
}

ApiResponse createRequest(Call& c) {
  return created(c, decodeRequestInput(c.body), &GrantEngine::request);
}

ApiResponse approveRequest(Call& c) { return onEmptyBody(c, &GrantEngine::approve); }

ApiResponse denyRequest(Call& c) {
  ObjectReader rd(c.body);
  auto reason = rd.optionalString("reason", 512);
  if (!reason) return c.refuse(reason.refusal());
  if (auto st = rd.finish(); !st) return c.refuse(st.refusal());
  return answer(c, 200, c.engine.deny(c.caller.name, c.arg, reason->value_or("")));
}

ApiResponse listUsers(Call& c) { return answerAll(c, c.engine.users()); }

ApiResponse addUser(Call& c) { return created(c, decodeUser(c.body), &GrantEngine::addUser); }

ApiResponse removeUser(Call& c) {
  return done(c, c.engine.removeUser(c.caller.name, c.arg), "removed");
}

ApiResponse audit(Call& c) {
  AuditQuery aq;
  if (auto t = c.query.get("target")) {
    if (auto st = validateName(*t, "target"); !st) return c.refuse(st.refusal());
    aq.target = *t;
  }
  if (auto s = c.query.get("since")) {
    // An RFC 3339 time, or a duration meaning "that long ago".
    auto t = parseTimestamp(*s, "since");
    if (t) {
      aq.since = *t;
    } else {
      auto d = parseDuration(*s, "since");
      if (!d)
        return c.refuse(invalid("since", "must be an RFC 3339 time or a duration (24h, P7D)"));
      aq.since = c.engine.now() - *d;
    }
  }
  if (auto l = c.query.get("limit")) {
    auto n = number(*l, 7, 1, 1000000);
    if (!n) return c.refuse(invalid("limit", "must be 1..1000000"));
    aq.limit = *n;
  }
  auto format = c.query.get("format").value_or("json");
  if (format != "json" && format != "csv")
    return c.refuse(invalid("format", "must be json or csv"));
  auto entries = c.engine.audit(aq);
  if (!entries) return c.refuse(entries.refusal());
  if (format == "csv") return {200, "text/csv; charset=utf-8", auditToCsv(*entries)};
  return jsonResponse(200, encodeAll(*entries));
}

ApiResponse decide(Call& c) {
  auto user = c.query.get("user"), tgt = c.query.get("target"), port = c.query.get("port"),
       source = c.query.get("source");
  if (!user || !tgt || !port || !source)
    return c.refuse(invalid("query", "user, target, port and source are required"));
  if (auto st = validateName(*user, "user"); !st) return c.refuse(st.refusal());
  if (auto st = validateName(*tgt, "target"); !st) return c.refuse(st.refusal());
  auto number = control::number(*port, 5, 1, 65535);
  if (!number) return c.refuse(invalid("port", "must be 1..65535"));
  auto addr = IpAddress::parse(*source, "source");
  if (!addr) return c.refuse(addr.refusal());
  return jsonResponse(200,
                      encode(c.engine.decide(*user, *tgt, static_cast<uint16_t>(*number), *addr)));
}

ApiResponse issueSshCert(Call& c) {
  ObjectReader rd(c.body);
  auto key = rd.requiredString("publicKey", 16384);
  if (!key) return c.refuse(key.refusal());
  if (auto st = rd.finish(); !st) return c.refuse(st.refusal());
  auto issued =
      c.authority->issueSsh(c.caller.name, c.caller.roles.can(Capability::Administer), c.arg, *key);
  if (!issued) return c.refuse(issued.refusal());
  const auto& r = issued->record;
  return jsonResponse(201, json::object{{"certificate", issued->line},
                                        {"serial", std::to_string(r.serial)},
                                        {"keyId", r.keyId},
                                        {"principal", issued->principal},
                                        {"validAfterUtc", formatTimestamp(r.validAfter)},
                                        {"validBeforeUtc", formatTimestamp(r.validBefore)}});
}

ApiResponse issueX509Cert(Call& c) {
  if (auto st = emptyBody(c); !st) return c.refuse(st.refusal());
  auto issued =
      c.authority->issueX509(c.caller.name, c.caller.roles.can(Capability::Administer), c.arg);
  if (!issued) return c.refuse(issued.refusal());
  const auto& r = issued->record;
  return jsonResponse(201, json::object{{"certificatePem", issued->material.certPem},
                                        {"privateKeyPem", issued->material.keyPem},
                                        {"caCertificatePem", c.authority->x509CaPem()},
                                        {"serial", std::to_string(r.serial)},
                                        {"user", r.user},
                                        {"validAfterUtc", formatTimestamp(r.validAfter)},
                                        {"validBeforeUtc", formatTimestamp(r.validBefore)}});
}

ApiResponse caSsh(Call& c) {
  auto keys = c.authority->trustedSshKeys();
  if (!keys) return c.refuse(keys.refusal());
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
  return jsonResponse(200, json::object{{"keys", std::move(list)}, {"trustedUserCaKeys", lines}});
}

ApiResponse caX509(Call& c) {
  return jsonResponse(200, json::object{{"certificatePem", c.authority->x509CaPem()}});
}

ApiResponse caKrl(Call& c) {
  auto krl = c.authority->krl();
  if (!krl) return c.refuse(krl.refusal());
  return {200, "application/octet-stream", std::move(*krl)};
}

ApiResponse caRotate(Call& c) {
  ObjectReader rd(c.body);
  auto alg = rd.optionalString("algorithm", 16);
  if (!alg) return c.refuse(alg.refusal());
  if (auto st = rd.finish(); !st) return c.refuse(st.refusal());
  std::optional<KeyAlgorithm> chosen;
  if (*alg) {
    auto a = parseKeyAlgorithm(**alg);
    if (!a) return c.refuse(a.refusal());
    chosen = *a;
  }
  auto rec = c.authority->rotateSsh(c.caller.name, chosen);
  if (!rec) return c.refuse(rec.refusal());
  return jsonResponse(
      200,
      json::object{{"id", rec->id}, {"algorithm", rec->algorithm}, {"publicKey", rec->publicKey}});
}

using A = Access;
using K = ArgKind;
using B = Body;
constexpr bool CA = true;  // needs the certificate authority
constexpr bool _ = false;

// One row per operation: method, path, audit action, who may, what the path
// argument names, body, known query parameters, whether it needs the CA, the
// body field a refusal's audit names as target, and the handler.
// clang-format off
constexpr Operation kOperations[] = {
    {verb::get,     "/v1/whoami",                     "control.whoami",  A::Anyone,        K::None,    B::None,          "",                          _,  "",       whoami},
    {verb::get,     "/v1/status",                     "control.status",  A::Inventory,     K::None,    B::None,          "",                          _,  "",       status},
    {verb::get,     "/v1/targets",                    "target.list",     A::Inventory,     K::None,    B::None,          "",                          _,  "",       listTargets},
    {verb::post,    "/v1/targets",                    "target.add",      A::Admin,         K::None,    B::Object,        "",                          _,  "name",   addTarget},
    {verb::get,     "/v1/targets/{}",                 "target.show",     A::Inventory,     K::Target,  B::None,          "",                          _,  "",       getTarget},
    {verb::delete_, "/v1/targets/{}",                 "target.remove",   A::Admin,         K::Target,  B::None,          "",                          _,  "",       removeTarget},
    {verb::get,     "/v1/targets/{}/policy",          "policy.show",     A::Inventory,     K::Target,  B::None,          "",                          _,  "",       getPolicy},
    {verb::put,     "/v1/targets/{}/policy",          "policy.enable",   A::Admin,         K::Target,  B::ObjectOrEmpty, "",                          _,  "",       setPolicy},
    {verb::delete_, "/v1/targets/{}/policy",          "policy.disable",  A::Admin,         K::Target,  B::None,          "",                          _,  "",       disablePolicy},
    {verb::get,     "/v1/policies",                   "policy.list",     A::Inventory,     K::None,    B::None,          "",                          _,  "",       listPolicies},
    {verb::get,     "/v1/nodes",                      "node.list",       A::Inventory,     K::None,    B::None,          "",                          _,  "",       listNodes},
    {verb::get,     "/v1/sessions",                   "session.list",    A::Grants,        K::None,    B::None,          "user,target,grant",         _,  "",       listSessions},
    {verb::post,    "/v1/sessions/{}/kill",           "session.kill",    A::Admin,         K::Session, B::ObjectOrEmpty, "",                          _,  "",       killSession},
    {verb::get,     "/v1/recordings",                 "recording.list",  A::Grants,        K::None,    B::None,          "user,target,grant,since",   _,  "",       listRecordings},
    {verb::get,     "/v1/recordings/search",          "recording.search", A::Grants,       K::None,    B::None,          "text,user,target,grant,since,limit", _, "", searchRecordings},
    {verb::get,     "/v1/recordings/{}",              "recording.show",  A::Grants,        K::Recording, B::None,        "",                          _,  "",       getRecording},
    {verb::get,     "/v1/recordings/{}/cast",         "recording.read",  A::Grants,        K::Recording, B::None,        "",                          _,  "",       recordingCast},
    {verb::get,     "/v1/recordings/{}/verify",       "recording.verify", A::Grants,       K::Recording, B::None,        "",                          _,  "",       verifyRecording},
    {verb::get,     "/v1/grants",                     "grant.list",      A::GrantsOrOwn,   K::None,    B::None,          "active,user,target",        _,  "",       listGrants},
    {verb::post,    "/v1/grants",                     "grant.create",    A::Admin,         K::None,    B::Object,        "",                          _,  "target", createGrant},
    {verb::get,     "/v1/grants/{}",                  "grant.show",      A::GrantsOrOwn,   K::Grant,   B::None,          "",                          _,  "",       getGrant},
    {verb::delete_, "/v1/grants/{}",                  "grant.revoke",    A::RequestAccess, K::Grant,   B::ObjectOrEmpty, "",                          _,  "",       revokeGrant},
    {verb::post,    "/v1/grants/{}/revoke",           "grant.revoke",    A::RequestAccess, K::Grant,   B::ObjectOrEmpty, "",                          _,  "",       revokeGrant},
    {verb::post,    "/v1/grants/{}/extend",           "grant.extend",    A::RequestAccess, K::Grant,   B::Object,        "",                          _,  "",       extendGrant},
    {verb::post,    "/v1/grants/{}/ssh-certificate",  "cert.issue",      A::RequestAccess, K::Grant,   B::Object,        "",                          CA, "",       issueSshCert},
    {verb::post,    "/v1/grants/{}/x509-certificate", "cert.issue",      A::RequestAccess, K::Grant,   B::ObjectOrEmpty, "",                          CA, "",       issueX509Cert},
    {verb::get,     "/v1/ca/ssh",                     "ca.export",       A::Inventory,     K::None,    B::None,          "",                          CA, "",       caSsh},
    {verb::post,    "/v1/ca/ssh/rotate",              "ca.rotate",       A::Admin,         K::None,    B::ObjectOrEmpty, "",                          CA, "",       caRotate},
    {verb::get,     "/v1/ca/x509",                    "ca.export",       A::Inventory,     K::None,    B::None,          "",                          CA, "",       caX509},
    {verb::get,     "/v1/ca/krl",                     "ca.krl",          A::Inventory,     K::None,    B::None,          "",                          CA, "",       caKrl},
    {verb::get,     "/v1/requests",                   "request.list",    A::GrantsOrOwn,   K::None,    B::None,          "state",                     _,  "",       listRequests},
    {verb::post,    "/v1/requests",                   "request.create",  A::RequestAccess, K::None,    B::Object,        "",                          _,  "target", createRequest},
    {verb::get,     "/v1/requests/{}",                "request.show",    A::GrantsOrOwn,   K::Request, B::None,          "",                          _,  "",       getRequest},
    {verb::post,    "/v1/requests/{}/approve",        "request.approve", A::Admin,         K::Request, B::ObjectOrEmpty, "",                          _,  "",       approveRequest},
    {verb::post,    "/v1/requests/{}/deny",           "request.deny",    A::Admin,         K::Request, B::ObjectOrEmpty, "",                          _,  "",       denyRequest},
    {verb::get,     "/v1/users",                      "user.list",       A::Users,         K::None,    B::None,          "",                          _,  "",       listUsers},
    {verb::post,    "/v1/users",                      "user.add",        A::Admin,         K::None,    B::Object,        "",                          _,  "",       addUser},
    {verb::delete_, "/v1/users/{}",                   "user.remove",     A::Admin,         K::User,    B::None,          "",                          _,  "",       removeUser},
    {verb::get,     "/v1/audit",                      "audit.read",      A::Audit,         K::None,    B::None,          "target,since,limit,format", _,  "",       audit},
    {verb::get,     "/v1/decision",                   "decision.check",  A::Grants,        K::None,    B::None,          "user,target,port,source",   _,  "",       decide},
};
// clang-format on

}  // namespace

std::span<const Operation> operations() { return kOperations; }

}  // namespace jitgate::control
