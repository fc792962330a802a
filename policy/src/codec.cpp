// The control API's JSON shapes and the audit CSV, both ways.
#include "jitgate/codec.hpp"

#include <boost/json.hpp>

#include "jitgate/json_input.hpp"

namespace jitgate {
namespace {

// Moves a field's value into `out`, or gives the field's refusal.
template <class T, class U>
std::optional<Refusal> take(Result<T> field, U& out) {
  if (!field) return field.refusal();
  out = std::move(*field);
  return std::nullopt;
}

// The same for an optional field, with `fallback` when it is absent.
template <class T, class U, class V>
std::optional<Refusal> takeOr(Result<std::optional<T>> field, U& out, V&& fallback) {
  if (!field) return field.refusal();
  out = std::move(*field).value_or(std::forward<V>(fallback));
  return std::nullopt;
}

namespace json = boost::json;

Result<RequestedPort> decodeRequestedPort(ObjectReader& r, bool numberKeyIsPort) {
  RequestedPort p;
  auto number = r.requiredInt(numberKeyIsPort ? "port" : "number", 1, 65535);
  if (!number) return number.refusal();
  p.number = static_cast<uint16_t>(*number);
  auto source = r.requiredString("source", 64);
  if (!source) return source.refusal();
  auto cidr = Cidr::parse(*source, r.field("source"));
  if (!cidr) return cidr.refusal();
  p.source = *cidr;
  auto duration = r.optionalString("duration", 32);
  if (!duration) return duration.refusal();
  auto end = r.optionalString("endTimeUtc", 40);
  if (!end) return end.refusal();
  if (duration->has_value() == end->has_value())
    return invalid(r.field("duration"), "give exactly one of duration and endTimeUtc");
  if (*duration) {
    if (auto no = take(parseDuration(**duration, r.field("duration")), p.duration)) return *no;
  } else {
    if (auto no = take(parseTimestamp(**end, r.field("endTimeUtc")), p.endTime)) return *no;
  }
  return p;
}

}  // namespace

Result<Target> decodeTarget(const json::object& o) {
  ObjectReader r(o);
  Target t;
  if (auto no = take(r.requiredString("name", 64), t.name)) return *no;
  if (auto no = take(r.requiredString("address", 253), t.address)) return *no;
  auto os = r.requiredString("os", 16);
  if (!os) return os.refusal();
  if (auto no = take(parseTargetOs(*os), t.os)) return *no;
  auto ssh = r.optionalInt("sshPort", 1, 65535);
  if (!ssh) return ssh.refusal();
  if (*ssh) t.sshPort = static_cast<uint16_t>(**ssh);
  auto http = r.optionalInt("winrmHttpPort", 1, 65535);
  if (!http) return http.refusal();
  if (*http) t.winrmHttpPort = static_cast<uint16_t>(**http);
  auto https = r.optionalInt("winrmHttpsPort", 1, 65535);
  if (!https) return https.refusal();
  if (*https) t.winrmHttpsPort = static_cast<uint16_t>(**https);
  if (auto st = r.finish(); !st) return st.refusal();
  if (auto st = validateName(t.name, "name"); !st) return st.refusal();
  if (auto st = validateAddress(t.address, "address"); !st) return st.refusal();
  return t;
}

Result<Policy> decodePolicy(const json::object& o, const std::string& target) {
  ObjectReader r(o);
  Policy p;
  p.target = target;
  if (auto no = takeOr(r.optionalBool("requireApproval"), p.requireApproval, false)) return *no;
  if (auto no = takeOr(r.optionalInt("minRequestPrefixV4", 0, 32), p.minRequestPrefixV4,
                       kDefaultMinRequestPrefixV4))
    return *no;
  if (auto no = takeOr(r.optionalInt("minRequestPrefixV6", 0, 128), p.minRequestPrefixV6,
                       kDefaultMinRequestPrefixV6))
    return *no;
  auto ports = r.optionalObjects("ports", 64);
  if (!ports) return ports.refusal();
  if (*ports) {
    for (size_t i = 0; i < (*ports)->size(); ++i) {
      ObjectReader pr(*(**ports)[i], "ports[" + std::to_string(i) + "].");
      PortRule rule;
      auto number = pr.requiredInt("number", 1, 65535);
      if (!number) return number.refusal();
      rule.number = static_cast<uint16_t>(*number);
      if (auto no = takeOr(pr.optionalString("protocol", 16), rule.protocol, "tcp")) return *no;
      if (rule.protocol != "tcp")
        return invalid(pr.field("protocol"),
                       "'" + rule.protocol + "' is not supported: the bastion relays TCP only");
      auto sources = pr.optionalStrings("allowedSourceAddressPrefixes", 256, 64);
      if (!sources) return sources.refusal();
      if (*sources && (*sources)->empty())
        return invalid(pr.field("allowedSourceAddressPrefixes"),
                       "needs at least one prefix (or \"*\" for any)");
      if (!*sources) {
        rule.allowedSources = {Cidr::any()};
      } else {
        for (size_t k = 0; k < (*sources)->size(); ++k) {
          auto c = Cidr::parse((**sources)[k], pr.field("allowedSourceAddressPrefixes") + "[" +
                                                   std::to_string(k) + "]");
          if (!c) return c.refusal();
          rule.allowedSources.push_back(*c);
        }
      }
      auto max = pr.optionalString("maxRequestAccessDuration", 32);
      if (!max) return max.refusal();
      if (*max) {
        if (auto no =
                take(parseDuration(**max, pr.field("maxRequestAccessDuration")), rule.maxDuration))
          return *no;
      }
      if (auto st = pr.finish(); !st) return st.refusal();
      p.ports.push_back(std::move(rule));
    }
    if (p.ports.empty()) return invalid("ports", "give at least one port rule, or omit ports");
  }
  if (auto st = r.finish(); !st) return st.refusal();
  return p;
}

Result<GrantInput> decodeGrantInput(const json::object& o) {
  ObjectReader r(o);
  GrantInput in;
  if (auto no = take(r.requiredString("user", 64), in.user)) return *no;
  if (auto no = take(r.requiredString("target", 64), in.target)) return *no;
  if (auto no = take(decodeRequestedPort(r, true), in.port)) return *no;
  if (auto no = takeOr(r.optionalString("justification", 512), in.justification, "")) return *no;
  if (auto no = takeOr(r.optionalBool("allowAnySource"), in.allowAnySource, false)) return *no;
  if (auto st = r.finish(); !st) return st.refusal();
  if (auto st = validateName(in.user, "user"); !st) return st.refusal();
  if (auto st = validateName(in.target, "target"); !st) return st.refusal();
  return in;
}

Result<RequestInput> decodeRequestInput(const json::object& o) {
  ObjectReader r(o);
  RequestInput in;
  if (auto no = take(r.requiredString("target", 64), in.target)) return *no;
  auto ports = r.optionalObjects("ports", 64);
  if (!ports) return ports.refusal();
  if (!*ports || (*ports)->empty()) return invalid("ports", "at least one port is needed");
  for (size_t i = 0; i < (*ports)->size(); ++i) {
    ObjectReader pr(*(**ports)[i], "ports[" + std::to_string(i) + "].");
    auto p = decodeRequestedPort(pr, false);
    if (!p) return p.refusal();
    if (auto st = pr.finish(); !st) return st.refusal();
    in.ports.push_back(*p);
  }
  if (auto no = take(r.requiredString("justification", 512), in.justification)) return *no;
  if (auto st = r.finish(); !st) return st.refusal();
  if (auto st = validateName(in.target, "target"); !st) return st.refusal();
  if (auto st = validateText(in.justification, "justification", 512, true); !st)
    return st.refusal();
  return in;
}

Result<User> decodeUser(const json::object& o) {
  ObjectReader r(o);
  User u;
  if (auto no = take(r.requiredString("name", 64), u.name)) return *no;
  auto keys = r.optionalStrings("keys", 32, 16384);
  if (!keys) return keys.refusal();
  if (!*keys || (*keys)->empty()) return invalid("keys", "at least one public key is needed");
  for (size_t i = 0; i < (*keys)->size(); ++i) {
    auto k = parseSshPublicKey((**keys)[i], "keys[" + std::to_string(i) + "]");
    if (!k) return k.refusal();
    u.keys.push_back(*k);
  }
  if (auto st = r.finish(); !st) return st.refusal();
  if (auto st = validateName(u.name, "name"); !st) return st.refusal();
  return u;
}

json::object encode(const Target& t) {
  return {{"name", t.name},
          {"address", t.address},
          {"os", toString(t.os)},
          {"sshPort", t.sshPort},
          {"winrmHttpPort", t.winrmHttpPort},
          {"winrmHttpsPort", t.winrmHttpsPort},
          {"createdUtc", formatTimestamp(t.createdAt)}};
}

json::object encode(const TargetView& v) {
  json::object o = encode(v.target);
  o["state"] = toString(v.state);
  o["reason"] = v.reason;
  o["policy"] = v.policy ? json::value(encode(*v.policy)) : json::value(nullptr);
  o["approvedRequestsLast7Days"] = v.approvedLast7Days;
  o["lastAccessUtc"] =
      v.lastAccess ? json::value(formatTimestampMs(*v.lastAccess)) : json::value(nullptr);
  o["lastUser"] = v.lastUser;
  o["lastSource"] = v.lastSource;
  if (!v.sharesAddressWith.empty()) {
    json::array others;
    for (const auto& n : v.sharesAddressWith) others.emplace_back(n);
    o["sharesAddressWith"] = std::move(others);
  }
  return o;
}

json::object encode(const Policy& p) {
  json::array ports;
  for (const auto& r : p.ports) {
    json::array sources;
    for (const auto& c : r.allowedSources) sources.emplace_back(c.toString());
    ports.emplace_back(
        json::object{{"number", r.number},
                     {"protocol", r.protocol},
                     {"allowedSourceAddressPrefixes", std::move(sources)},
                     {"maxRequestAccessDuration", formatDurationIso(r.maxDuration)}});
  }
  return {{"target", p.target},
          {"ports", std::move(ports)},
          {"requireApproval", p.requireApproval},
          {"minRequestPrefixV4", p.minRequestPrefixV4},
          {"minRequestPrefixV6", p.minRequestPrefixV6},
          {"updatedUtc", formatTimestamp(p.updatedAt)},
          {"updatedBy", p.updatedBy}};
}

json::object encode(const Grant& g) {
  json::object o{{"id", g.id},
                 {"user", g.user},
                 {"target", g.target},
                 {"port", g.port},
                 {"source", g.source.toString()},
                 {"startTimeUtc", formatTimestamp(g.start)},
                 {"endTimeUtc", formatTimestamp(g.end)},
                 {"requestedBy", g.requestedBy},
                 {"approvedBy", g.approvedBy},
                 {"justification", g.justification},
                 {"requestId", g.requestId},
                 {"state", toString(g.state)}};
  o["revokedUtc"] = g.revokedAt ? json::value(formatTimestamp(*g.revokedAt)) : json::value(nullptr);
  o["revokedBy"] = g.revokedBy;
  return o;
}

json::object encode(const AccessRequest& r) {
  json::array ports;
  for (const auto& p : r.ports) {
    json::object po{{"number", p.number}, {"source", p.source.toString()}};
    if (p.duration) po["duration"] = formatDurationIso(*p.duration);
    if (p.endTime) po["endTimeUtc"] = formatTimestamp(*p.endTime);
    ports.push_back(std::move(po));
  }
  json::array grants;
  for (const auto& g : r.grantIds) grants.emplace_back(g);
  return {{"id", r.id},
          {"requester", r.requester},
          {"target", r.target},
          {"ports", std::move(ports)},
          {"justification", r.justification},
          {"state", toString(r.state)},
          {"createdUtc", formatTimestamp(r.createdAt)},
          {"decidedBy", r.decidedBy},
          {"decidedUtc",
           r.decidedAt ? json::value(formatTimestamp(*r.decidedAt)) : json::value(nullptr)},
          {"reason", r.reason},
          {"grants", std::move(grants)}};
}

json::object encode(const User& u) {
  json::array keys;
  for (const auto& k : u.keys)
    keys.emplace_back(
        json::object{{"type", k.type}, {"fingerprint", k.fingerprint}, {"comment", k.comment}});
  return {
      {"name", u.name}, {"keys", std::move(keys)}, {"createdUtc", formatTimestamp(u.createdAt)}};
}

json::object encode(const AuditEntry& e) {
  json::object o{{"seq", e.seq},         {"timeUtc", formatTimestampMs(e.time)},
                 {"actor", e.actor},     {"action", e.action},
                 {"outcome", e.outcome}, {"target", e.target},
                 {"source", e.source},   {"user", e.user},
                 {"grant", e.grantId},   {"request", e.requestId},
                 {"detail", e.detail},   {"node", e.node},
                 {"session", e.session}};
  o["port"] = e.port ? json::value(*e.port) : json::value(nullptr);
  return o;
}

json::object encode(const NodeRecord& n) {
  json::array addresses;
  for (const auto& a : n.addresses) addresses.emplace_back(a);
  json::object o{{"name", n.name},
                 {"state", toString(n.state)},
                 {"addresses", std::move(addresses)},
                 {"version", n.version},
                 {"startedUtc", formatTimestamp(n.startedAt)},
                 {"heartbeatUtc", formatTimestampMs(n.heartbeatAt)},
                 {"lostBy", n.lostBy}};
  o["lostUtc"] = n.lostAt ? json::value(formatTimestamp(*n.lostAt)) : json::value(nullptr);
  return o;
}

json::object encode(const Decision& d) {
  if (d.allowed)
    return {{"allowed", true}, {"grant", d.grantId}, {"endTimeUtc", formatTimestamp(d.end)}};
  return {{"allowed", false}, {"reason", toString(d.reason)}, {"message", d.message}};
}

json::object encode(const Refusal& r) {
  // Messages may quote what the caller sent: keep the answer valid UTF-8.
  return {{"error", json::object{{"code", refusalCodeName(r.code)},
                                 {"field", printable(r.field, 128)},
                                 {"message", printable(r.message, 1024)}}}};
}

std::string csvCell(std::string_view s) {
  std::string v;
  if (!s.empty() &&
      (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@' || s[0] == '\t' || s[0] == '\r'))
    v = "'";
  v.append(s);
  // ';' is quoted too: spreadsheets in many locales split cells on it.
  if (v.find_first_of(",;\"\r\n") == std::string::npos) return v;
  std::string q = "\"";
  for (char c : v) {
    if (c == '"') q += '"';
    q += c;
  }
  q += '"';
  return q;
}

std::string auditToCsv(const std::vector<AuditEntry>& entries) {
  std::string out =
      "seq,time_utc,actor,action,outcome,target,port,source,user,grant,request,detail,node,"
      "session\r\n";
  for (const auto& e : entries) {
    const std::string cells[] = {std::to_string(e.seq),
                                 formatTimestampMs(e.time),
                                 e.actor,
                                 e.action,
                                 e.outcome,
                                 e.target,
                                 e.port ? std::to_string(*e.port) : "",
                                 e.source,
                                 e.user,
                                 e.grantId,
                                 e.requestId,
                                 e.detail,
                                 e.node,
                                 e.session};
    bool first = true;
    for (const auto& c : cells) {
      if (!first) out += ',';
      first = false;
      out += csvCell(c);
    }
    out += "\r\n";
  }
  return out;
}

}  // namespace jitgate
