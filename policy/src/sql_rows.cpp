// The store's rows: SELECT column lists, row readers and the JSON columns
// (sql_rows.hpp).
#include "sql_rows.hpp"

namespace jitgate::sql {

namespace json = boost::json;

const std::string kTargetSelect =
    "SELECT name,address,os,ssh_port,winrm_http_port,winrm_https_port,created_at FROM targets";
const std::string kPolicySelect =
    "SELECT target,rules,require_approval,updated_at,updated_by,min_request_prefix_v4,"
    "min_request_prefix_v6 FROM policies";
const std::string kGrantSelect =
    "SELECT id,\"user\",target,port,source,start_at,end_at,requested_by,approved_by,"
    "justification,request_id,state,revoked_at,revoked_by FROM grants";
const std::string kRequestSelect =
    "SELECT id,requester,target,ports,justification,state,created_at,decided_by,decided_at,"
    "reason,grant_ids FROM requests";
const std::string kAuditSelect =
    "SELECT seq,time_ms,actor,action,outcome,target,port,source,\"user\",grant_id,request_id,"
    "detail,node,session FROM audit";
const std::string kUserSelect = "SELECT name,keys,created_at FROM users";
const std::string kCertificateSelect =
    "SELECT c.serial,c.kind,c.grant_id,c.\"user\",c.key_id,c.ca_key_id,c.valid_after,"
    "c.valid_before,c.issued_at,c.issued_by,c.subject_fingerprint FROM certificates c";
const std::string kCaKeySelect =
    "SELECT id,kind,algorithm,public_key,file,created_at,retired_at FROM ca_keys";

namespace {

// Rows were validated before they were written; a row that no longer parses
// means the file was altered, so it is reported rather than guessed at.
Result<std::vector<PortRule>> rulesFromJsonUnchecked(const std::string& text) {
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  if (ec || !v.is_array()) return Refusal{RefusalCode::Unavailable, "", "store: corrupt rules"};
  std::vector<PortRule> out;
  for (const auto& item : v.as_array()) {
    const auto* o = item.if_object();
    if (!o || !o->contains("number") || !o->contains("sources") || !o->contains("max_s"))
      return Refusal{RefusalCode::Unavailable, "", "store: corrupt rules"};
    PortRule r;
    r.number = static_cast<uint16_t>(o->at("number").to_number<int64_t>());
    r.protocol = json::value_to<std::string>(o->at("protocol"));
    for (const auto& s : o->at("sources").as_array()) {
      auto c = Cidr::parse(s.as_string());
      if (!c) return Refusal{RefusalCode::Unavailable, "", "store: corrupt rule source"};
      r.allowedSources.push_back(*c);
    }
    r.maxDuration = Seconds(o->at("max_s").to_number<int64_t>());
    out.push_back(std::move(r));
  }
  return out;
}

Result<std::vector<RequestedPort>> portsFromJsonUnchecked(const std::string& text) {
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  if (ec || !v.is_array()) return Refusal{RefusalCode::Unavailable, "", "store: corrupt ports"};
  std::vector<RequestedPort> out;
  for (const auto& item : v.as_array()) {
    const auto* o = item.if_object();
    if (!o || !o->contains("number") || !o->contains("source"))
      return Refusal{RefusalCode::Unavailable, "", "store: corrupt ports"};
    RequestedPort p;
    p.number = static_cast<uint16_t>(o->at("number").to_number<int64_t>());
    auto c = Cidr::parse(o->at("source").as_string());
    if (!c) return Refusal{RefusalCode::Unavailable, "", "store: corrupt port source"};
    p.source = *c;
    if (auto* d = o->if_contains("duration_s")) p.duration = Seconds(d->to_number<int64_t>());
    if (auto* e = o->if_contains("end")) p.endTime = fromEpoch(e->to_number<int64_t>());
    out.push_back(p);
  }
  return out;
}

// Boost.JSON's accessors throw on a wrong type; a corrupt row is a refusal.
Result<std::vector<PortRule>> rulesFromJson(const std::string& text) {
  try {
    return rulesFromJsonUnchecked(text);
  } catch (const std::exception&) {
    return Refusal{RefusalCode::Unavailable, "", "store: corrupt rules"};
  }
}

Result<std::vector<RequestedPort>> portsFromJson(const std::string& text) {
  try {
    return portsFromJsonUnchecked(text);
  } catch (const std::exception&) {
    return Refusal{RefusalCode::Unavailable, "", "store: corrupt ports"};
  }
}

}  // namespace

std::vector<std::string> stringsFromJson(const std::string& text) {
  std::vector<std::string> out;
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  if (ec || !v.is_array()) return out;
  for (const auto& s : v.as_array())
    if (s.is_string()) out.emplace_back(s.as_string());
  return out;
}

json::array rulesToJson(const std::vector<PortRule>& rules) {
  json::array a;
  for (const auto& r : rules) {
    json::array sources;
    for (const auto& c : r.allowedSources) sources.emplace_back(c.toString());
    a.emplace_back(json::object{{"number", r.number},
                                {"protocol", r.protocol},
                                {"sources", std::move(sources)},
                                {"max_s", r.maxDuration.count()}});
  }
  return a;
}

json::array portsToJson(const std::vector<RequestedPort>& ports) {
  json::array a;
  for (const auto& p : ports) {
    json::object o{{"number", p.number}, {"source", p.source.toString()}};
    if (p.duration) o["duration_s"] = p.duration->count();
    if (p.endTime) o["end"] = toEpoch(*p.endTime);
    a.push_back(std::move(o));
  }
  return a;
}

std::string stringsToJson(const std::vector<std::string>& v) {
  json::array a;
  for (const auto& s : v) a.emplace_back(s);
  return json::serialize(a);
}

Target readTarget(const SqlRow& s) {
  Target t;
  std::string os;
  s.columns(t.name, t.address, os, t.sshPort, t.winrmHttpPort, t.winrmHttpsPort, t.createdAt);
  t.os = os == "windows" ? TargetOs::Windows : TargetOs::Linux;
  return t;
}

Result<Policy> readPolicy(const SqlRow& s) {
  Policy p;
  std::string rules;
  int64_t minV4 = 0, minV6 = 0;
  s.columns(p.target, rules, p.requireApproval, p.updatedAt, p.updatedBy, minV4, minV6);
  if (minV4 < 0 || minV4 > 32 || minV6 < 0 || minV6 > 128)
    return Refusal{RefusalCode::Unavailable, "", "store: corrupt policy " + p.target};
  p.minRequestPrefixV4 = static_cast<int>(minV4);
  p.minRequestPrefixV6 = static_cast<int>(minV6);
  auto ports = rulesFromJson(rules);
  if (!ports) return ports.refusal();
  p.ports = std::move(*ports);
  return p;
}

Result<Grant> readGrant(const SqlRow& s) {
  Grant g;
  std::string source, state;
  s.columns(g.id, g.user, g.target, g.port, source, g.start, g.end, g.requestedBy, g.approvedBy,
            g.justification, g.requestId, state, g.revokedAt, g.revokedBy);
  auto src = Cidr::parse(source);
  if (!src) return Refusal{RefusalCode::Unavailable, "", "store: corrupt grant source " + g.id};
  g.source = *src;
  auto st = parseGrantState(state);
  if (!st) return Refusal{RefusalCode::Unavailable, "", "store: corrupt grant state " + g.id};
  g.state = *st;
  return g;
}

Result<AccessRequest> readRequest(const SqlRow& s) {
  AccessRequest r;
  std::string ports, state, grantIds;
  s.columns(r.id, r.requester, r.target, ports, r.justification, state, r.createdAt, r.decidedBy,
            r.decidedAt, r.reason, grantIds);
  auto parsed = portsFromJson(ports);
  if (!parsed) return parsed.refusal();
  r.ports = std::move(*parsed);
  auto st = parseRequestState(state);
  if (!st) return Refusal{RefusalCode::Unavailable, "", "store: corrupt request state " + r.id};
  r.state = *st;
  r.grantIds = stringsFromJson(grantIds);
  return r;
}

std::string keysToJson(const std::vector<SshPublicKey>& keys) {
  std::vector<std::string> lines;
  for (const auto& k : keys) lines.push_back(k.line());
  return stringsToJson(lines);
}

User readUser(const SqlRow& s) {
  User u;
  std::string keys;
  s.columns(u.name, keys, u.createdAt);
  for (const auto& line : stringsFromJson(keys)) {
    // Keys were validated on the way in; one that no longer parses is
    // dropped rather than trusted.
    if (auto k = parseSshPublicKey(line)) u.keys.push_back(std::move(*k));
  }
  return u;
}

AuditEntry readAudit(const SqlRow& s) {
  AuditEntry e;
  int64_t timeMs = 0;
  s.columns(e.seq, timeMs, e.actor, e.action, e.outcome, e.target, e.port, e.source, e.user,
            e.grantId, e.requestId, e.detail, e.node, e.session);
  e.time = std::chrono::sys_time<std::chrono::milliseconds>(std::chrono::milliseconds(timeMs));
  return e;
}

IssuedCertificate readCertificate(const SqlRow& s) {
  IssuedCertificate c;
  int64_t serial = 0;
  s.columns(serial, c.kind, c.grantId, c.user, c.keyId, c.caKeyId, c.validAfter, c.validBefore,
            c.issuedAt, c.issuedBy, c.subjectFingerprint);
  // Serials are below 2^63 (certs), so they fit a signed 64-bit column.
  c.serial = static_cast<uint64_t>(serial);
  return c;
}

CaKeyRecord readCaKey(const SqlRow& s) {
  CaKeyRecord k;
  s.columns(k.id, k.kind, k.algorithm, k.publicKey, k.file, k.createdAt, k.retiredAt);
  return k;
}

}  // namespace jitgate::sql
