// jitctl's rendering of the control API's answers: tables and field lists
// for a terminal, every cell passed through printable() (text.hpp), the one
// escaping of text other people typed.
#include "jitgate/cli_render.hpp"

#include <cstdio>
#include <sstream>

namespace jitgate::cli {

std::string shown(std::string_view s) { return printable(s, std::string::npos); }

namespace {

// Code points, which is what a terminal shows for everything but wide
// (East Asian) characters.
size_t displayWidth(std::string_view s) {
  size_t n = 0;
  for (char c : s)
    if ((static_cast<unsigned char>(c) & 0xc0) != 0x80) ++n;
  return n;
}

}  // namespace

// Columns two spaces apart, each as wide as its widest cell; an empty cell
// shows "-" so that every row has as many words as columns (for awk). The
// last column is not padded: it holds the long text (detail, justification).
void printTable(std::ostream& out, const Row& headers, const std::vector<Row>& rows) {
  std::vector<Row> lines{headers};
  for (const auto& r : rows) {
    Row cells;
    for (size_t c = 0; c < headers.size(); ++c) {
      std::string v = c < r.size() ? shown(r[c]) : std::string();
      cells.push_back(v.empty() ? "-" : std::move(v));
    }
    lines.push_back(std::move(cells));
  }
  std::vector<size_t> widths(headers.size(), 0);
  for (const auto& l : lines)
    for (size_t c = 0; c < l.size(); ++c) widths[c] = std::max(widths[c], displayWidth(l[c]));
  for (const auto& l : lines) {
    std::string line;
    for (size_t c = 0; c < l.size(); ++c) {
      line += l[c];
      if (c + 1 < l.size()) line.append(widths[c] - displayWidth(l[c]) + 2, ' ');
    }
    out << line << '\n';
  }
}

// "key:  value" lines with the values aligned, for one object.
void printFields(std::ostream& out, const Fields& fields) {
  size_t width = 0;
  for (const auto& [k, v] : fields) width = std::max(width, k.size() + 1);
  for (const auto& [k, v] : fields) {
    std::string value = shown(v);
    out << k << ':' << std::string(width - k.size(), ' ') << (value.empty() ? "-" : value) << '\n';
  }
}

// ---------------------------------------------------------------- JSON access
// The answer is the daemon's, but a version skew or a bug must give a blank
// cell, not a crash: every access checks the kind first.

const json::value* member(const json::value& v, std::string_view key) {
  const auto* o = v.if_object();
  return o ? o->if_contains(key) : nullptr;
}

std::string text(const json::value* v) {
  if (!v) return {};
  switch (v->kind()) {
    case json::kind::string:
      return std::string(v->get_string());
    case json::kind::int64:
      return std::to_string(v->get_int64());
    case json::kind::uint64:
      return std::to_string(v->get_uint64());
    case json::kind::double_: {
      std::ostringstream s;
      s << v->get_double();
      return s.str();
    }
    case json::kind::bool_:
      return v->get_bool() ? "yes" : "no";
    case json::kind::null:
      return {};
    case json::kind::array: {
      std::string out;
      for (const auto& e : v->get_array()) out += (out.empty() ? "" : ",") + text(&e);
      return out;
    }
    case json::kind::object:
      return json::serialize(*v);
  }
  return {};
}

std::string text(const json::value& v, std::string_view key) { return text(member(v, key)); }

const json::array& items(const json::value* v) {
  static const json::array kNone;
  const auto* a = v ? v->if_array() : nullptr;
  return a ? *a : kNone;
}

const json::array& items(const json::value& v, std::string_view key) {
  return items(member(v, key));
}

bool isTrue(const json::value& v, std::string_view key) {
  const auto* m = member(v, key);
  return m && m->is_bool() && m->get_bool();
}

std::string stateLabel(const std::string& state) {
  if (state == "not_configured") return "not configured";
  return state;
}

namespace {

std::string policyPorts(const json::value* policy) {
  std::string out;
  for (const auto& p : items(policy ? member(*policy, "ports") : nullptr))
    out += (out.empty() ? "" : ",") + text(p, "number");
  return out;
}

}  // namespace

int renderTargets(std::ostream& out, const json::value& v) {
  std::vector<Row> rows;
  for (const auto& t : items(&v))
    rows.push_back({text(t, "name"), text(t, "address"), text(t, "os"),
                    stateLabel(text(t, "state")), policyPorts(member(t, "policy")),
                    text(t, "approvedRequestsLast7Days"), text(t, "lastAccessUtc"),
                    text(t, "lastUser"), text(t, "reason")});
  printTable(out,
             {"NAME", "ADDRESS", "OS", "STATE", "PORTS", "APPROVED(7d)", "LAST ACCESS", "LAST USER",
              "NOTE"},
             rows);
  return 0;
}

namespace {

void printRules(std::ostream& out, const json::value& policy) {
  std::vector<Row> rows;
  for (const auto& p : items(policy, "ports"))
    rows.push_back({text(p, "number"), text(p, "protocol"), text(p, "maxRequestAccessDuration"),
                    text(p, "allowedSourceAddressPrefixes")});
  printTable(out, {"PORT", "PROTOCOL", "MAX", "ALLOWED SOURCES"}, rows);
}

}  // namespace

int renderPolicy(std::ostream& out, const json::value& p) {
  printFields(out,
              {{"target", text(p, "target")},
               {"require approval", isTrue(p, "requireApproval") ? "yes" : "no"},
               {"request sources", "at least /" + text(p, "minRequestPrefixV4") + " (IPv4), /" +
                                       text(p, "minRequestPrefixV6") + " (IPv6)"},
               {"updated", text(p, "updatedUtc") + " by " + text(p, "updatedBy")}});
  printRules(out, p);
  return 0;
}

int renderTarget(std::ostream& out, const json::value& t) {
  std::string access = text(t, "lastAccessUtc");
  if (!access.empty()) {
    if (auto u = text(t, "lastUser"); !u.empty()) access += " by " + u;
    if (auto s = text(t, "lastSource"); !s.empty()) access += " from " + s;
  }
  printFields(out, {{"name", text(t, "name")},
                    {"address", text(t, "address")},
                    {"os", text(t, "os")},
                    {"service ports", "ssh " + text(t, "sshPort") + ", winrm-http " +
                                          text(t, "winrmHttpPort") + ", winrm-https " +
                                          text(t, "winrmHttpsPort")},
                    {"state", stateLabel(text(t, "state"))},
                    {"note", text(t, "reason")},
                    {"created", text(t, "createdUtc")},
                    {"approved (7d)", text(t, "approvedRequestsLast7Days")},
                    {"last access", access}});
  const auto* policy = member(t, "policy");
  if (policy && policy->is_object()) {
    out << "policy (approval " << (isTrue(*policy, "requireApproval") ? "required" : "not required")
        << "):\n";
    printRules(out, *policy);
  }
  return 0;
}

int renderPolicies(std::ostream& out, const json::value& v) {
  std::vector<Row> rows;
  for (const auto& p : items(&v)) {
    std::string approval = isTrue(p, "requireApproval") ? "required" : "no";
    for (const auto& r : items(p, "ports"))
      rows.push_back({text(p, "target"), text(r, "number"), text(r, "protocol"),
                      text(r, "maxRequestAccessDuration"), approval,
                      text(r, "allowedSourceAddressPrefixes")});
  }
  printTable(out, {"TARGET", "PORT", "PROTOCOL", "MAX", "APPROVAL", "ALLOWED SOURCES"}, rows);
  return 0;
}

namespace {

Row grantRow(const json::value& g) {
  return {text(g, "id"),     text(g, "user"),         text(g, "target"),     text(g, "port"),
          text(g, "source"), text(g, "startTimeUtc"), text(g, "endTimeUtc"), text(g, "state")};
}

}  // namespace

int renderSessions(std::ostream& out, const json::value& v) {
  std::vector<Row> rows;
  for (const auto& s : items(&v))
    rows.push_back({text(s, "id"), text(s, "user"), text(s, "target"), text(s, "port"),
                    text(s, "source"), text(s, "front"), text(s, "grant"), text(s, "startedUtc"),
                    text(s, "bytesToTarget"), text(s, "bytesFromTarget"), text(s, "node")});
  printTable(out,
             {"ID", "USER", "TARGET", "PORT", "SOURCE", "FRONT", "GRANT", "STARTED", "BYTES UP",
              "BYTES DOWN", "NODE"},
             rows);
  return 0;
}

int renderNodes(std::ostream& out, const json::value& v) {
  std::vector<Row> rows;
  for (const auto& n : items(&v)) {
    std::string addresses;
    if (const auto* a = member(n, "addresses"); a && a->is_array())
      for (const auto& s : a->as_array())
        if (s.is_string())
          addresses += (addresses.empty() ? "" : ", ") + std::string(s.as_string());
    std::string state = text(n, "state");
    if (state == "lost") state += " (by " + text(n, "lostBy") + " at " + text(n, "lostUtc") + ")";
    rows.push_back({text(n, "name"), state, text(n, "version"), text(n, "startedUtc"),
                    text(n, "heartbeatUtc"), addresses});
  }
  printTable(out, {"NAME", "STATE", "VERSION", "STARTED", "LAST HEARTBEAT", "ADDRESSES"}, rows);
  return 0;
}

int renderRecordings(std::ostream& out, const json::value& v) {
  std::vector<Row> rows;
  for (const auto& r : items(&v)) {
    std::string state = isTrue(r, "closed") ? text(r, "end") : "open";
    std::string what = text(r, "channel");
    if (auto c = text(r, "command"); !c.empty()) what += ": " + c;
    char duration[32];
    double d = 0;
    if (const auto* n = member(r, "durationSeconds"); n && n->is_number())
      d = n->to_number<double>();
    std::snprintf(duration, sizeof duration, "%.1fs", d);
    rows.push_back({text(r, "id"), text(r, "user"), text(r, "target"), text(r, "grant"),
                    text(r, "startedUtc"), duration, text(r, "bytes"), state, what});
  }
  printTable(out,
             {"ID", "USER", "TARGET", "GRANT", "STARTED", "DURATION", "BYTES", "STATE", "WHAT"},
             rows);
  return 0;
}

int renderScreenHits(std::ostream& out, const json::value& v) {
  std::vector<Row> rows;
  for (const auto& h : items(&v)) {
    char offset[32];
    double d = 0;
    if (const auto* n = member(h, "offsetSeconds"); n && n->is_number()) d = n->to_number<double>();
    std::snprintf(offset, sizeof offset, "%.3fs", d);
    rows.push_back({text(h, "recording"), offset, text(h, "line")});
  }
  printTable(out, {"RECORDING", "OFFSET", "LINE"}, rows);
  return 0;
}

int renderGrants(std::ostream& out, const json::value& v) {
  std::vector<Row> rows;
  for (const auto& g : items(&v)) rows.push_back(grantRow(g));
  printTable(out, {"ID", "USER", "TARGET", "PORT", "SOURCE", "START", "END", "STATE"}, rows);
  return 0;
}

namespace {

std::string requestedPorts(const json::value& r) {
  std::string out;
  for (const auto& p : items(r, "ports")) {
    std::string one = text(p, "number") + " from " + text(p, "source");
    if (auto d = text(p, "duration"); !d.empty()) one += " for " + d;
    if (auto e = text(p, "endTimeUtc"); !e.empty()) one += " until " + e;
    out += (out.empty() ? "" : "; ") + one;
  }
  return out;
}

}  // namespace

int renderRequests(std::ostream& out, const json::value& v) {
  std::vector<Row> rows;
  for (const auto& r : items(&v))
    rows.push_back({text(r, "id"), text(r, "requester"), text(r, "target"), text(r, "state"),
                    text(r, "createdUtc"), text(r, "decidedBy"), text(r, "grants"),
                    requestedPorts(r), text(r, "justification")});
  printTable(out,
             {"ID", "REQUESTER", "TARGET", "STATE", "CREATED", "DECIDED BY", "GRANTS", "PORTS",
              "JUSTIFICATION"},
             rows);
  return 0;
}

// A request after approve or deny: one line on what happened.
int renderDecided(std::ostream& out, const json::value& r) {
  std::string line = "request " + text(r, "id") + " is " + text(r, "state");
  if (auto g = text(r, "grants"); !g.empty()) line += "; grants " + g;
  if (auto reason = text(r, "reason"); !reason.empty()) line += " (" + reason + ")";
  out << shown(line) << '\n';
  return 0;
}

int renderUsers(std::ostream& out, const json::value& v) {
  std::vector<Row> rows;
  for (const auto& u : items(&v)) {
    const auto& keys = items(u, "keys");
    if (keys.empty()) rows.push_back({text(u, "name")});
    for (const auto& k : keys)
      rows.push_back(
          {text(u, "name"), text(k, "type"), text(k, "fingerprint"), text(k, "comment")});
  }
  printTable(out, {"NAME", "TYPE", "FINGERPRINT", "COMMENT"}, rows);
  return 0;
}

int renderAudit(std::ostream& out, const json::value& v) {
  std::vector<Row> rows;
  for (const auto& e : items(&v))
    rows.push_back({text(e, "timeUtc"), text(e, "actor"), text(e, "action"), text(e, "outcome"),
                    text(e, "target"), text(e, "port"), text(e, "source"), text(e, "user"),
                    text(e, "detail")});
  printTable(out,
             {"TIME", "ACTOR", "ACTION", "OUTCOME", "TARGET", "PORT", "SOURCE", "USER", "DETAIL"},
             rows);
  return 0;
}

int renderStatus(std::ostream& out, const json::value& s) {
  const json::value* t = member(s, "targets");
  std::string targets;
  if (t)
    targets = text(*t, "configured") + " configured, " + text(*t, "notConfigured") +
              " not configured, " + text(*t, "unsupported") + " unsupported";
  std::string store;
  if (const json::value* st = member(s, "store")) {
    store = text(*st, "backend");
    if (!text(*st, "where").empty()) store += " " + text(*st, "where");
    if (isTrue(*st, "reachable")) {
      store += ", reachable";
    } else {
      store += ", UNREACHABLE since " + text(*st, "unreachableSinceUtc") +
               " (new connections and changes refused): " + text(*st, "detail");
    }
    if (text(*st, "heldAuditEntries") != "0")
      store += "; " + text(*st, "heldAuditEntries") + " audit entries held";
  }
  printFields(out, {{"version", text(s, "version")},
                    {"now", text(s, "nowUtc")},
                    {"store", store},
                    {"uptime", text(s, "uptimeSeconds") + " s"},
                    {"active grants", text(s, "activeGrants")},
                    {"pending requests", text(s, "pendingRequests")},
                    {"targets", targets}});
  return 0;
}

int renderWhoami(std::ostream& out, const json::value& w) {
  const auto& groups = items(w, "groups");
  const auto& roles = items(w, "roles");
  auto join = [](const json::array& a) {
    std::string joined;
    for (const auto& e : a) joined += (joined.empty() ? "" : ", ") + text(&e);
    return joined;
  };
  printFields(out, {{"user", text(w, "user") + " (uid " + text(w, "uid") + ")"},
                    {"groups", join(groups)},
                    {"roles", roles.empty() ? "none" : join(roles)}});
  return 0;
}

}  // namespace jitgate::cli
