// The control API's dispatcher: matches a request to its row in the
// operations table, admits it by role, decodes path, query and body as the
// row says, audits every refusal, and calls the row's handler.
#include "jitgate/control_api.hpp"

#include <spdlog/spdlog.h>

#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include "control_operations.hpp"
#include "jitgate/codec.hpp"
#include "jitgate/json_input.hpp"

namespace jitgate {

namespace json = boost::json;
namespace http = boost::beast::http;
using control::Operation;

namespace control {

bool admits(Access access, const Roles& r) {
  switch (access) {
    case Access::Anyone:
      return true;
    case Access::Inventory:
      return r.can(Capability::ReadInventory);
    case Access::GrantsOrOwn:
      return r.can(Capability::ReadGrants) || r.can(Capability::RequestAccess);
    case Access::RequestAccess:
      return r.can(Capability::RequestAccess);
    case Access::Grants:
      return r.can(Capability::ReadGrants);
    case Access::Audit:
      return r.can(Capability::ReadAudit);
    case Access::Users:
      return r.can(Capability::ReadUsers);
    case Access::Admin:
      return r.can(Capability::Administer);
  }
  return false;
}

Result<Query> Query::parse(std::string_view target, std::string_view known) {
  Query q;
  auto u = boost::urls::parse_origin_form(target);
  if (!u) return invalid("query", "malformed request target");
  for (auto p : u->params()) {
    std::string key(p.key);
    bool ok = false;
    for (std::string_view rest = known; !ok && !rest.empty();) {
      auto comma = rest.find(',');
      ok = rest.substr(0, comma) == key;
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    }
    if (!ok) return invalid(key.substr(0, 64), "unknown query parameter");
    if (q.values_.count(key)) return invalid(key, "given twice");
    if (p.value.size() > 256) return invalid(key, "longer than 256 bytes");
    q.values_[key] = std::string(p.value);
  }
  return q;
}

std::optional<std::string> Query::get(const std::string& k) const {
  auto it = values_.find(k);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

ApiResponse jsonResponse(unsigned status, const json::value& v) {
  return {status, "application/json", json::serialize(v) + "\n"};
}

unsigned httpStatus(RefusalCode c) {
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
    case RefusalCode::StoreUnavailable:
      return 503;
  }
  return 500;
}

ApiResponse Call::refuse(const Refusal& r) {
  AuditEntry e;
  e.actor = caller.name;
  e.action = std::string(op.action);
  bool failed = r.code == RefusalCode::Unavailable || r.code == RefusalCode::StoreUnavailable;
  e.outcome = failed ? "error" : "denied";
  e.target = auditTarget;
  // The path argument is named only once it is known to be a well-formed name.
  if (op.arg != ArgKind::None && validateName(arg, "path").ok()) {
    // The column of the audit entry each ArgKind names, in the enum's order.
    static constexpr std::string AuditEntry::*kColumn[] = {nullptr,
                                                           &AuditEntry::target,
                                                           &AuditEntry::grantId,
                                                           &AuditEntry::requestId,
                                                           &AuditEntry::user,
                                                           nullptr,
                                                           nullptr};
    if (auto column = kColumn[static_cast<size_t>(op.arg)]) e.*column = arg;
  }
  e.detail = std::string(refusalCodeName(r.code)) + ": " + r.describe();
  (void)engine.record(std::move(e));
  return jsonResponse(httpStatus(r.code), encode(r));
}

}  // namespace control

namespace {

struct Matched {
  const Operation* op = nullptr;
  std::string arg;
  unsigned status = 404;  // when no operation: 400, 404 or 405
  std::string why;
};

// Whether `segments` are the path `pattern` ("/v1/targets/{}"), and the
// argument its {} stands for.
bool pathMatches(std::string_view pattern, const std::vector<std::string>& segments,
                 std::string& arg) {
  size_t i = 0;
  pattern.remove_prefix(1);
  while (true) {
    auto slash = pattern.find('/');
    auto part = pattern.substr(0, slash);
    if (i >= segments.size()) return false;
    if (part == "{}")
      arg = segments[i];
    else if (part != segments[i])
      return false;
    ++i;
    if (slash == std::string_view::npos) return i == segments.size();
    pattern.remove_prefix(slash + 1);
  }
}

Matched match(http::verb method, std::string_view target) {
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
  if (seg.empty() || seg[0] != "v1") {
    out.why = "no such resource (the API lives under /v1)";
    return out;
  }
  bool pathKnown = false;
  for (const auto& op : control::operations()) {
    std::string arg;
    if (!pathMatches(op.path, seg, arg)) continue;
    pathKnown = true;
    if (op.method != method) continue;
    out.op = &op;
    out.arg = std::move(arg);
    return out;
  }
  if (pathKnown) {
    out.status = 405;
    out.why = "method not allowed on " + std::string(parsed->path());
  } else {
    out.why = "no such resource: " + std::string(parsed->path()).substr(0, 128);
  }
  return out;
}

}  // namespace

ControlApi::ControlApi(GrantEngine& engine, std::string version, CertificateAuthority* authority)
    : engine_(engine),
      authority_(authority),
      version_(std::move(version)),
      started_(std::chrono::steady_clock::now()) {}

void ControlApi::audit(AuditEntry e) {
  if (auto st = engine_.record(std::move(e)); !st)
    spdlog::error("control socket: audit entry not written: {}", st.refusal().describe());
}

ApiResponse ControlApi::refuseMalformed(unsigned status, const std::string& why,
                                        const Caller& caller) {
  AuditEntry e;
  e.actor = caller.name;
  e.action = "control.refused";
  e.outcome = "denied";
  e.detail = why;
  (void)engine_.record(std::move(e));
  return control::jsonResponse(status,
                               encode(Refusal{RefusalCode::InvalidArgument, "request", why}));
}

std::optional<ApiResponse> ControlApi::admit(http::verb method, std::string_view target,
                                             const Caller& caller) {
  auto m = match(method, target);
  if (!m.op) {
    AuditEntry e;
    e.actor = caller.name;
    e.action = "control.refused";
    e.outcome = "denied";
    e.detail = std::string(http::to_string(method)) + " " + std::string(target.substr(0, 128)) +
               ": " + m.why;
    (void)engine_.record(std::move(e));
    Refusal r{m.status == 405 ? RefusalCode::InvalidArgument : RefusalCode::NotFound, "path",
              m.why};
    return control::jsonResponse(m.status, encode(r));
  }
  if (!control::admits(m.op->access, caller.roles)) {
    control::Call call{engine_, authority_, version_, started_, caller, *m.op, m.arg};
    call.sessions = sessions_;
    call.recordings = recordings_;
    std::string roles;
    for (const auto& n : caller.roles.names()) roles += (roles.empty() ? "" : ", ") + n;
    return call.refuse(Refusal{RefusalCode::Forbidden, "",
                               caller.name + " (roles: " + (roles.empty() ? "none" : roles) +
                                   ") may not " + std::string(m.op->action)});
  }
  return std::nullopt;
}

ApiResponse ControlApi::handle(http::verb method, std::string_view target, std::string_view body,
                               const Caller& caller) {
  // handle() without admit(): answered as admit would.
  if (auto refused = admit(method, target, caller)) return *refused;
  auto m = match(method, target);
  const Operation& op = *m.op;
  control::Call call{engine_, authority_, version_, started_, caller, op, m.arg};
  call.sessions = sessions_;
  call.recordings = recordings_;
  // Names and ids in the path follow the same rule as names in bodies; a
  // malformed one is refused without being echoed.
  if (op.arg != control::ArgKind::None) {
    if (auto st = validateName(call.arg, "path"); !st) return call.refuse(st.refusal());
  }
  if (op.body == control::Body::None && !body.empty())
    return call.refuse(invalid("body", "this request takes no body"));
  auto query = control::Query::parse(target, op.query);
  if (!query) return call.refuse(query.refusal());
  call.query = std::move(*query);
  if (op.needsAuthority && !authority_)
    return call.refuse(
        Refusal{RefusalCode::Unavailable, "", "the certificate authority is not running"});
  if (op.body != control::Body::None) {
    if (body.empty() && op.body == control::Body::Object)
      return call.refuse(invalid("body", "expected a JSON object"));
    if (!body.empty()) {
      auto o = parseJsonObject(body);
      if (!o) return call.refuse(o.refusal());
      call.body = std::move(*o);
    }
    if (!op.bodyTarget.empty()) {
      if (auto* n = call.body.if_contains(op.bodyTarget); n && n->is_string())
        call.auditTarget = n->as_string().c_str();
    }
  }
  return op.handler(call);
}

}  // namespace jitgate
