// The SQLite store's rows: SELECT column lists, row readers and the JSON
// columns (sqlite_rows.hpp).
#include "sqlite_rows.hpp"

namespace jitgate::sqlite {

namespace json = boost::json;

const std::string kTargetSelect =
    "SELECT name,address,os,ssh_port,winrm_http_port,winrm_https_port,created_at FROM targets";
const std::string kPolicySelect =
    "SELECT target,rules,require_approval,updated_at,updated_by FROM policies";
const std::string kGrantSelect =
    "SELECT id,user,target,port,source,start_at,end_at,requested_by,approved_by,"
    "justification,request_id,state,revoked_at,revoked_by FROM grants";
const std::string kRequestSelect =
    "SELECT id,requester,target,ports,justification,state,created_at,decided_by,decided_at,"
    "reason,grant_ids FROM requests";
const std::string kAuditSelect =
    "SELECT seq,time_ms,actor,action,outcome,target,port,source,user,grant_id,request_id,"
    "detail FROM audit";

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

std::vector<std::string> stringsFromJson(const std::string& text) {
  std::vector<std::string> out;
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  if (ec || !v.is_array()) return out;
  for (const auto& s : v.as_array())
    if (s.is_string()) out.emplace_back(s.as_string());
  return out;
}

}  // namespace

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

Target readTarget(const Stmt& s) {
  Target t;
  t.name = s.text(0);
  t.address = s.text(1);
  t.os = s.text(2) == "windows" ? TargetOs::Windows : TargetOs::Linux;
  t.sshPort = static_cast<uint16_t>(s.i64(3));
  t.winrmHttpPort = static_cast<uint16_t>(s.i64(4));
  t.winrmHttpsPort = static_cast<uint16_t>(s.i64(5));
  t.createdAt = fromEpoch(s.i64(6));
  return t;
}
Result<Policy> readPolicy(const Stmt& s) {
  Policy p;
  p.target = s.text(0);
  auto rules = rulesFromJson(s.text(1));
  if (!rules) return rules.refusal();
  p.ports = std::move(*rules);
  p.requireApproval = s.i64(2) != 0;
  p.updatedAt = fromEpoch(s.i64(3));
  p.updatedBy = s.text(4);
  return p;
}
Result<Grant> readGrant(const Stmt& s) {
  Grant g;
  g.id = s.text(0);
  g.user = s.text(1);
  g.target = s.text(2);
  g.port = static_cast<uint16_t>(s.i64(3));
  auto src = Cidr::parse(s.text(4));
  if (!src) return Refusal{RefusalCode::Unavailable, "", "store: corrupt grant source " + g.id};
  g.source = *src;
  g.start = fromEpoch(s.i64(5));
  g.end = fromEpoch(s.i64(6));
  g.requestedBy = s.text(7);
  g.approvedBy = s.text(8);
  g.justification = s.text(9);
  g.requestId = s.text(10);
  auto st = parseGrantState(s.text(11));
  if (!st) return Refusal{RefusalCode::Unavailable, "", "store: corrupt grant state " + g.id};
  g.state = *st;
  if (!s.isNull(12)) g.revokedAt = fromEpoch(s.i64(12));
  g.revokedBy = s.text(13);
  return g;
}
Result<AccessRequest> readRequest(const Stmt& s) {
  AccessRequest r;
  r.id = s.text(0);
  r.requester = s.text(1);
  r.target = s.text(2);
  auto ports = portsFromJson(s.text(3));
  if (!ports) return ports.refusal();
  r.ports = std::move(*ports);
  r.justification = s.text(4);
  auto st = parseRequestState(s.text(5));
  if (!st) return Refusal{RefusalCode::Unavailable, "", "store: corrupt request state " + r.id};
  r.state = *st;
  r.createdAt = fromEpoch(s.i64(6));
  r.decidedBy = s.text(7);
  if (!s.isNull(8)) r.decidedAt = fromEpoch(s.i64(8));
  r.reason = s.text(9);
  r.grantIds = stringsFromJson(s.text(10));
  return r;
}
std::string keysToJson(const std::vector<SshPublicKey>& keys) {
  std::vector<std::string> lines;
  for (const auto& k : keys) lines.push_back(k.line());
  return stringsToJson(lines);
}
User readUser(const Stmt& s) {
  User u;
  u.name = s.text(0);
  for (const auto& line : stringsFromJson(s.text(1))) {
    // Keys were validated on the way in; one that no longer parses is
    // dropped rather than trusted.
    if (auto k = parseSshPublicKey(line)) u.keys.push_back(std::move(*k));
  }
  u.createdAt = fromEpoch(s.i64(2));
  return u;
}
AuditEntry readAudit(const Stmt& s) {
  AuditEntry e;
  e.seq = s.i64(0);
  e.time = std::chrono::sys_time<std::chrono::milliseconds>(std::chrono::milliseconds(s.i64(1)));
  e.actor = s.text(2);
  e.action = s.text(3);
  e.outcome = s.text(4);
  e.target = s.text(5);
  if (!s.isNull(6)) e.port = static_cast<uint16_t>(s.i64(6));
  e.source = s.text(7);
  e.user = s.text(8);
  e.grantId = s.text(9);
  e.requestId = s.text(10);
  e.detail = s.text(11);
  return e;
}

}  // namespace jitgate::sqlite
