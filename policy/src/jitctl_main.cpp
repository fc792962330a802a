// jitctl: the admin and requester CLI. Each verb is one control-API call
// (docs/CONTROL_API.md); the answer is printed as a table, or as the API's
// own JSON with --json. The daemon validates everything; jitctl checks only
// what it must to build the request.

#include <fcntl.h>
#include <openssl/crypto.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <boost/url.hpp>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "jitgate/control_client.hpp"
#include "jitgate/files.hpp"

namespace jitgate {
namespace {

namespace json = boost::json;
using boost::beast::http::verb;

constexpr const char* kDefaultSocket = "/run/jitgate/control.sock";

// ---------------------------------------------------------------- output

// Names, justifications and audit details are typed by other people: printed
// raw, they could move the cursor, retitle the terminal or reverse the text
// around them (bidi overrides). Invalid UTF-8 is replaced too.
std::string printable(std::string_view s) {
  static constexpr char32_t kMinOfLength[] = {0, 0, 0x80, 0x800, 0x10000};
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    auto lead = static_cast<unsigned char>(s[i]);
    size_t len = lead < 0x80           ? 1
                 : (lead >> 5) == 0x06 ? 2
                 : (lead >> 4) == 0x0e ? 3
                 : (lead >> 3) == 0x1e ? 4
                                       : 0;
    bool valid = len != 0 && i + len <= s.size();
    char32_t cp = 0;
    if (valid) {
      cp = len == 1 ? lead : lead & (0x7f >> len);
      for (size_t k = 1; k < len && valid; ++k) {
        auto cont = static_cast<unsigned char>(s[i + k]);
        valid = (cont & 0xc0) == 0x80;
        cp = (cp << 6) | (cont & 0x3f);
      }
      valid = valid && cp >= kMinOfLength[len] && cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff);
    }
    if (!valid) {
      out += '?';
      ++i;
      continue;
    }
    bool control = cp < 0x20 || (cp >= 0x7f && cp < 0xa0);
    bool bidi = (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
    if (cp == '\n' || cp == '\r' || cp == '\t')
      out += ' ';
    else if (control || bidi)
      out += '?';
    else
      out.append(s.substr(i, len));
    i += len;
  }
  return out;
}

// Code points, which is what a terminal shows for everything but wide
// (East Asian) characters.
size_t displayWidth(std::string_view s) {
  size_t n = 0;
  for (char c : s)
    if ((static_cast<unsigned char>(c) & 0xc0) != 0x80) ++n;
  return n;
}

using Row = std::vector<std::string>;

// Columns two spaces apart, each as wide as its widest cell; an empty cell
// shows "-" so that every row has as many words as columns (for awk). The
// last column is not padded: it holds the long text (detail, justification).
void printTable(const Row& headers, const std::vector<Row>& rows) {
  std::vector<Row> lines{headers};
  for (const auto& r : rows) {
    Row cells;
    for (size_t c = 0; c < headers.size(); ++c) {
      std::string v = c < r.size() ? printable(r[c]) : std::string();
      cells.push_back(v.empty() ? "-" : std::move(v));
    }
    lines.push_back(std::move(cells));
  }
  std::vector<size_t> widths(headers.size(), 0);
  for (const auto& l : lines)
    for (size_t c = 0; c < l.size(); ++c) widths[c] = std::max(widths[c], displayWidth(l[c]));
  for (const auto& l : lines) {
    std::string out;
    for (size_t c = 0; c < l.size(); ++c) {
      out += l[c];
      if (c + 1 < l.size()) out.append(widths[c] - displayWidth(l[c]) + 2, ' ');
    }
    std::cout << out << '\n';
  }
}

using Fields = std::vector<std::pair<std::string, std::string>>;

// "key:  value" lines with the values aligned, for one object.
void printFields(const Fields& fields) {
  size_t width = 0;
  for (const auto& [k, v] : fields) width = std::max(width, k.size() + 1);
  for (const auto& [k, v] : fields) {
    std::string value = printable(v);
    std::cout << k << ':' << std::string(width - k.size(), ' ') << (value.empty() ? "-" : value)
              << '\n';
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

// ---------------------------------------------------------------- calls

struct Context {
  std::string socket;
  bool json = false;
};

struct Answer {
  HttpReply reply;
  json::value value;  // null unless the answer is JSON
};

Result<Answer> call(const Context& ctx, verb method, const std::string& target,
                    const std::string& body = {}) {
  auto reply = callApi(ctx.socket, method, target, body);
  if (!reply) return reply.refusal();
  if (reply->status < 200 || reply->status >= 300) return apiRefusal(*reply);
  Answer a{std::move(*reply), nullptr};
  if (a.reply.contentType.starts_with("application/json")) {
    // A name that came in as invalid UTF-8 can come back in an answer (an
    // audit detail): read it anyway, printable() replaces it.
    json::parse_options opts;
    opts.allow_invalid_utf8 = true;
    boost::system::error_code ec;
    a.value = json::parse(a.reply.body, ec, {}, opts);
    if (ec)
      return Refusal{RefusalCode::Unavailable, "",
                     "malformed JSON from " + ctx.socket + ": " + ec.message()};
  }
  return a;
}

int fail(const Refusal& r) {
  std::cerr << "jitctl: " << printable(r.describe()) << '\n';
  return 1;
}

// A mistake on the command line that CLI11 cannot express (neither of two
// alternatives given): the exit status of CLI11's own usage errors.
int usage(const std::string& message) {
  std::cerr << "jitctl: " << printable(message) << '\n';
  return 2;
}

void echo(const HttpReply& r) {
  std::cout << r.body;
  if (!r.body.empty() && r.body.back() != '\n') std::cout << '\n';
}

using Render = std::function<int(const json::value&)>;

// The shape of most verbs: one call, then the JSON as it came or a rendering.
int serve(const Context& ctx, verb method, const std::string& target, const std::string& body,
          const Render& render) {
  auto a = call(ctx, method, target, body);
  if (!a) return fail(a.refusal());
  if (ctx.json) {
    echo(a->reply);
    return 0;
  }
  return render(a->value);
}

using Query = std::vector<std::pair<std::string, std::string>>;

// A request target under /v1. Segments and query values are percent-encoded:
// a name from the command line must not be able to reshape the path.
std::string apiTarget(std::initializer_list<std::string_view> segments, const Query& query = {}) {
  boost::urls::url u;
  u.set_path("/v1");
  for (auto s : segments) u.segments().push_back(s);
  for (const auto& [k, v] : query) u.params().append({k, v});
  return std::string(u.buffer());
}

// ---------------------------------------------------------------- renderings

std::string stateLabel(const std::string& state) {
  if (state == "not_configured") return "not configured";
  return state;
}

std::string policyPorts(const json::value* policy) {
  std::string out;
  for (const auto& p : items(policy ? member(*policy, "ports") : nullptr))
    out += (out.empty() ? "" : ",") + text(p, "number");
  return out;
}

int renderTargets(const json::value& v) {
  std::vector<Row> rows;
  for (const auto& t : items(&v))
    rows.push_back({text(t, "name"), text(t, "address"), text(t, "os"),
                    stateLabel(text(t, "state")), policyPorts(member(t, "policy")),
                    text(t, "approvedRequestsLast7Days"), text(t, "lastAccessUtc"),
                    text(t, "lastUser"), text(t, "reason")});
  printTable({"NAME", "ADDRESS", "OS", "STATE", "PORTS", "APPROVED(7d)", "LAST ACCESS", "LAST USER",
              "NOTE"},
             rows);
  return 0;
}

void printRules(const json::value& policy) {
  std::vector<Row> rows;
  for (const auto& p : items(policy, "ports"))
    rows.push_back({text(p, "number"), text(p, "protocol"), text(p, "maxRequestAccessDuration"),
                    text(p, "allowedSourceAddressPrefixes")});
  printTable({"PORT", "PROTOCOL", "MAX", "ALLOWED SOURCES"}, rows);
}

int renderPolicy(const json::value& p) {
  printFields({{"target", text(p, "target")},
               {"require approval", isTrue(p, "requireApproval") ? "yes" : "no"},
               {"request sources", "at least /" + text(p, "minRequestPrefixV4") + " (IPv4), /" +
                                       text(p, "minRequestPrefixV6") + " (IPv6)"},
               {"updated", text(p, "updatedUtc") + " by " + text(p, "updatedBy")}});
  printRules(p);
  return 0;
}

int renderTarget(const json::value& t) {
  std::string access = text(t, "lastAccessUtc");
  if (!access.empty()) {
    if (auto u = text(t, "lastUser"); !u.empty()) access += " by " + u;
    if (auto s = text(t, "lastSource"); !s.empty()) access += " from " + s;
  }
  printFields(
      {{"name", text(t, "name")},
       {"address", text(t, "address")},
       {"os", text(t, "os")},
       {"service ports", "ssh " + text(t, "sshPort") + ", winrm-http " + text(t, "winrmHttpPort") +
                             ", winrm-https " + text(t, "winrmHttpsPort")},
       {"state", stateLabel(text(t, "state"))},
       {"note", text(t, "reason")},
       {"created", text(t, "createdUtc")},
       {"approved (7d)", text(t, "approvedRequestsLast7Days")},
       {"last access", access}});
  const auto* policy = member(t, "policy");
  if (policy && policy->is_object()) {
    std::cout << "policy (approval "
              << (isTrue(*policy, "requireApproval") ? "required" : "not required") << "):\n";
    printRules(*policy);
  }
  return 0;
}

int renderPolicies(const json::value& v) {
  std::vector<Row> rows;
  for (const auto& p : items(&v)) {
    std::string approval = isTrue(p, "requireApproval") ? "required" : "no";
    for (const auto& r : items(p, "ports"))
      rows.push_back({text(p, "target"), text(r, "number"), text(r, "protocol"),
                      text(r, "maxRequestAccessDuration"), approval,
                      text(r, "allowedSourceAddressPrefixes")});
  }
  printTable({"TARGET", "PORT", "PROTOCOL", "MAX", "APPROVAL", "ALLOWED SOURCES"}, rows);
  return 0;
}

Row grantRow(const json::value& g) {
  return {text(g, "id"),     text(g, "user"),         text(g, "target"),     text(g, "port"),
          text(g, "source"), text(g, "startTimeUtc"), text(g, "endTimeUtc"), text(g, "state")};
}

int renderGrants(const json::value& v) {
  std::vector<Row> rows;
  for (const auto& g : items(&v)) rows.push_back(grantRow(g));
  printTable({"ID", "USER", "TARGET", "PORT", "SOURCE", "START", "END", "STATE"}, rows);
  return 0;
}

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

int renderRequests(const json::value& v) {
  std::vector<Row> rows;
  for (const auto& r : items(&v))
    rows.push_back({text(r, "id"), text(r, "requester"), text(r, "target"), text(r, "state"),
                    text(r, "createdUtc"), text(r, "decidedBy"), text(r, "grants"),
                    requestedPorts(r), text(r, "justification")});
  printTable({"ID", "REQUESTER", "TARGET", "STATE", "CREATED", "DECIDED BY", "GRANTS", "PORTS",
              "JUSTIFICATION"},
             rows);
  return 0;
}

// A request after approve or deny: one line on what happened.
int renderDecided(const json::value& r) {
  std::string line = "request " + text(r, "id") + " is " + text(r, "state");
  if (auto g = text(r, "grants"); !g.empty()) line += "; grants " + g;
  if (auto reason = text(r, "reason"); !reason.empty()) line += " (" + reason + ")";
  std::cout << printable(line) << '\n';
  return 0;
}

int renderUsers(const json::value& v) {
  std::vector<Row> rows;
  for (const auto& u : items(&v)) {
    const auto& keys = items(u, "keys");
    if (keys.empty()) rows.push_back({text(u, "name")});
    for (const auto& k : keys)
      rows.push_back(
          {text(u, "name"), text(k, "type"), text(k, "fingerprint"), text(k, "comment")});
  }
  printTable({"NAME", "TYPE", "FINGERPRINT", "COMMENT"}, rows);
  return 0;
}

int renderAudit(const json::value& v) {
  std::vector<Row> rows;
  for (const auto& e : items(&v))
    rows.push_back({text(e, "timeUtc"), text(e, "actor"), text(e, "action"), text(e, "outcome"),
                    text(e, "target"), text(e, "port"), text(e, "source"), text(e, "user"),
                    text(e, "detail")});
  printTable({"TIME", "ACTOR", "ACTION", "OUTCOME", "TARGET", "PORT", "SOURCE", "USER", "DETAIL"},
             rows);
  return 0;
}

int renderStatus(const json::value& s) {
  const json::value* t = member(s, "targets");
  std::string targets;
  if (t)
    targets = text(*t, "configured") + " configured, " + text(*t, "notConfigured") +
              " not configured, " + text(*t, "unsupported") + " unsupported";
  printFields({{"version", text(s, "version")},
               {"now", text(s, "nowUtc")},
               {"uptime", text(s, "uptimeSeconds") + " s"},
               {"active grants", text(s, "activeGrants")},
               {"pending requests", text(s, "pendingRequests")},
               {"targets", targets}});
  return 0;
}

int renderWhoami(const json::value& w) {
  const auto& groups = items(w, "groups");
  const auto& roles = items(w, "roles");
  auto join = [](const json::array& a) {
    std::string out;
    for (const auto& e : a) out += (out.empty() ? "" : ", ") + text(&e);
    return out;
  };
  printFields({{"user", text(w, "user") + " (uid " + text(w, "uid") + ")"},
               {"groups", join(groups)},
               {"roles", roles.empty() ? "none" : join(roles)}});
  return 0;
}

// ---------------------------------------------------------------- verbs

struct Window {
  std::string forDuration;
  std::string until;

  // Exactly one of --for and --until; false when neither was given.
  bool addTo(json::object& o) const {
    if (!forDuration.empty()) o["duration"] = forDuration;
    if (!until.empty()) o["endTimeUtc"] = until;
    return !forDuration.empty() || !until.empty();
  }
};

struct Args {
  std::string name, target, user, id;
  // target add
  std::string address, os;
  std::optional<int> sshPort, winrmHttpPort, winrmHttpsPort;
  // policy enable
  std::vector<int> ports;
  std::vector<std::string> from;
  std::string max;
  bool requireApproval = false;
  std::optional<int> minPrefixV4, minPrefixV6;
  // grant, request, check
  int port = 0;
  std::string source;
  bool myIp = false;
  Window window;
  std::string justification;
  bool allowAnySource = false;
  // listings
  bool active = false;
  std::string state, since, reason;
  std::optional<int> limit;
  bool csv = false;
  // user add
  std::vector<std::string> keyFiles;
  // cert, ca
  std::string pubkey, out, algorithm;
  bool ssh = false, x509 = false;
};

// Writes an output file whole (created or replaced, with `mode`).
Status writeFile(const std::string& path, const std::string& data, mode_t mode) {
  if (auto st = writeFileAtomically(path, data, mode); !st)
    return invalid("-o", "cannot write " + st.refusal().message);
  return okStatus();
}

Result<std::vector<std::string>> readKeys(const std::vector<std::string>& files);

int certSsh(const Context& ctx, const Args& a) {
  auto keys = readKeys({a.pubkey});
  if (!keys) return fail(keys.refusal());
  if (keys->size() != 1) return usage("--pubkey: the file must hold exactly one public key");
  json::object o{{"publicKey", keys->front()}};
  auto answer =
      call(ctx, verb::post, apiTarget({"grants", a.id, "ssh-certificate"}), json::serialize(o));
  if (!answer) return fail(answer.refusal());
  if (ctx.json) {
    echo(answer->reply);
    return 0;
  }
  const auto& v = answer->value;
  std::string line = text(v, "certificate") + "\n";
  if (a.out.empty()) {
    std::cout << line;
  } else {
    if (auto st = writeFile(a.out, line, 0644); !st) return fail(st.refusal());
    std::cerr << "jitctl: certificate for " << printable(text(v, "principal")) << " valid "
              << printable(text(v, "validAfterUtc")) << " .. "
              << printable(text(v, "validBeforeUtc")) << " written to " << printable(a.out) << '\n';
  }
  return 0;
}

int certX509(const Context& ctx, const Args& a) {
  auto answer = call(ctx, verb::post, apiTarget({"grants", a.id, "x509-certificate"}), "{}");
  if (!answer) return fail(answer.refusal());
  if (ctx.json) {
    echo(answer->reply);
    return 0;
  }
  const auto& v = answer->value;
  std::string key = text(v, "privateKeyPem"), cert = text(v, "certificatePem"),
              ca = text(v, "caCertificatePem");
  if (a.out.empty()) {
    std::cout << key << cert;
  } else {
    for (auto [suffix, data, mode] :
         {std::tuple{".key", &key, mode_t{0600}}, std::tuple{".crt", &cert, mode_t{0644}},
          std::tuple{"-ca.crt", &ca, mode_t{0644}}}) {
      if (auto st = writeFile(a.out + suffix, *data, mode); !st) return fail(st.refusal());
    }
    std::cerr << "jitctl: " << printable(a.out) << ".key, " << printable(a.out) << ".crt and "
              << printable(a.out) << "-ca.crt written (valid until "
              << printable(text(v, "validBeforeUtc")) << ")\n";
  }
  OPENSSL_cleanse(key.data(), key.size());
  return 0;
}

int caExport(const Context& ctx, const Args& a) {
  if (a.ssh == a.x509) return usage("ca export: give exactly one of --ssh and --x509");
  auto answer = call(ctx, verb::get, apiTarget({"ca", a.ssh ? "ssh" : "x509"}));
  if (!answer) return fail(answer.refusal());
  if (ctx.json) {
    echo(answer->reply);
    return 0;
  }
  std::cout << text(answer->value, a.ssh ? "trustedUserCaKeys" : "certificatePem");
  return 0;
}

int caKrl(const Context& ctx, const Args& a) {
  auto answer = call(ctx, verb::get, apiTarget({"ca", "krl"}));
  if (!answer) return fail(answer.refusal());
  if (a.out.empty()) {
    if (::isatty(STDOUT_FILENO)) return usage("ca krl: the KRL is binary; use -o FILE");
    std::cout << answer->reply.body;
    return 0;
  }
  if (auto st = writeFile(a.out, answer->reply.body, 0644); !st) return fail(st.refusal());
  return 0;
}

int addTarget(const Context& ctx, const Args& a) {
  json::object o{{"name", a.name}, {"address", a.address}, {"os", a.os}};
  if (a.sshPort) o["sshPort"] = *a.sshPort;
  if (a.winrmHttpPort) o["winrmHttpPort"] = *a.winrmHttpPort;
  if (a.winrmHttpsPort) o["winrmHttpsPort"] = *a.winrmHttpsPort;
  return serve(
      ctx, verb::post, apiTarget({"targets"}), json::serialize(o), [](const json::value& t) {
        std::string line = "target " + text(t, "name") + " added: " + stateLabel(text(t, "state"));
        if (auto r = text(t, "reason"); !r.empty()) line += " (" + r + ")";
        std::cout << printable(line) << '\n';
        return 0;
      });
}

int enablePolicy(const Context& ctx, const Args& a) {
  json::object o;
  if (a.requireApproval) o["requireApproval"] = true;
  if (a.minPrefixV4) o["minRequestPrefixV4"] = *a.minPrefixV4;
  if (a.minPrefixV6) o["minRequestPrefixV6"] = *a.minPrefixV6;
  if (a.ports.empty() && (!a.from.empty() || !a.max.empty()))
    return usage("policy enable: --from and --max apply to the ports given with --port");
  if (!a.ports.empty()) {
    json::array rules;
    for (int p : a.ports) {
      json::object rule{{"number", p}, {"protocol", "tcp"}};
      if (!a.from.empty()) rule["allowedSourceAddressPrefixes"] = json::value_from(a.from);
      if (!a.max.empty()) rule["maxRequestAccessDuration"] = a.max;
      rules.push_back(std::move(rule));
    }
    o["ports"] = std::move(rules);
  }
  return serve(ctx, verb::put, apiTarget({"targets", a.target, "policy"}), json::serialize(o),
               renderPolicy);
}

// stdout is the bare id, for `id=$(jitctl grant ...)`: an answer without one
// must not pass as success with an empty id.
int printId(const json::value& v) {
  std::string id = text(v, "id");
  if (id.empty())
    return fail(Refusal{RefusalCode::Unavailable, "", "the daemon's answer has no id"});
  std::cout << printable(id) << '\n';
  return 0;
}

int createGrant(const Context& ctx, const Args& a) {
  json::object o{{"user", a.user}, {"target", a.target}, {"port", a.port}, {"source", a.source}};
  if (!a.window.addTo(o)) return usage("grant: give --for DURATION or --until TIME");
  if (!a.justification.empty()) o["justification"] = a.justification;
  if (a.allowAnySource) o["allowAnySource"] = true;
  return serve(ctx, verb::post, apiTarget({"grants"}), json::serialize(o), printId);
}

// The caller's own address as the bastion sees it: sshd puts it first in
// $SSH_CONNECTION ("client port server port") and $SSH_CLIENT.
std::optional<std::string> sshClientAddress() {
  for (const char* var : {"SSH_CONNECTION", "SSH_CLIENT"}) {
    const char* v = std::getenv(var);
    if (!v) continue;
    std::istringstream in(v);
    std::string first;
    if (in >> first) return first;
  }
  return std::nullopt;
}

int createRequest(const Context& ctx, const Args& a) {
  std::string source = a.source;
  if (a.myIp) {
    auto mine = sshClientAddress();
    if (!mine)
      return usage("--my-ip: not in an SSH session (no $SSH_CONNECTION); use --from ADDRESS");
    source = *mine;
  }
  if (source.empty()) return usage("request: give --from ADDRESS or --my-ip");
  json::array ports;
  for (int p : a.ports) {
    json::object po{{"number", p}, {"source", source}};
    if (!a.window.addTo(po)) return usage("request: give --for DURATION or --until TIME");
    ports.push_back(std::move(po));
  }
  json::object o{
      {"target", a.target}, {"ports", std::move(ports)}, {"justification", a.justification}};
  auto answer = call(ctx, verb::post, apiTarget({"requests"}), json::serialize(o));
  if (!answer) return fail(answer.refusal());
  const json::value& r = answer->value;
  if (ctx.json)
    echo(answer->reply);
  else if (int rc = printId(r); rc != 0)
    return rc;
  // stderr, so that stdout stays the bare id for scripts.
  if (text(r, "state") == "pending")
    std::cerr << "request " << printable(text(r, "id")) << " is pending approval\n";
  return 0;
}

int check(const Context& ctx, const Args& a) {
  auto answer = call(ctx, verb::get,
                     apiTarget({"decision"}, {{"user", a.user},
                                              {"target", a.target},
                                              {"port", std::to_string(a.port)},
                                              {"source", a.source}}));
  if (!answer) return fail(answer.refusal());
  const json::value& d = answer->value;
  bool allowed = isTrue(d, "allowed");
  if (ctx.json) {
    echo(answer->reply);
  } else if (allowed) {
    std::cout << printable("allowed by " + text(d, "grant") + " until " + text(d, "endTimeUtc"))
              << '\n';
  } else {
    std::cout << printable("denied: " + text(d, "reason") + ": " + text(d, "message")) << '\n';
  }
  return allowed ? 0 : 1;
}

// Public keys, one a line as in authorized_keys; "-" reads standard input.
Result<std::vector<std::string>> readKeys(const std::vector<std::string>& files) {
  std::vector<std::string> keys;
  for (const auto& f : files) {
    std::ifstream file;
    if (f != "-") {
      file.open(f);
      if (!file) return invalid("--key", "cannot read " + f + ": " + std::strerror(errno));
    }
    std::istream& in = f == "-" ? std::cin : file;
    size_t before = keys.size();
    std::string line;
    while (std::getline(in, line)) {
      auto start = line.find_first_not_of(" \t\r");
      if (start == std::string::npos || line[start] == '#') continue;
      auto end = line.find_last_not_of(" \t\r");
      keys.push_back(line.substr(start, end - start + 1));
    }
    if (in.bad()) return invalid("--key", "cannot read " + f + ": " + std::strerror(errno));
    if (keys.size() == before) return invalid("--key", f + " holds no public key");
  }
  return keys;
}

int addUser(const Context& ctx, const Args& a) {
  auto keys = readKeys(a.keyFiles);
  if (!keys) return fail(keys.refusal());
  json::object o{{"name", a.name}, {"keys", json::value_from(*keys)}};
  return serve(ctx, verb::post, apiTarget({"users"}), json::serialize(o), [](const json::value& u) {
    json::array one;
    one.push_back(u);
    return renderUsers(one);
  });
}

int audit(const Context& ctx, const Args& a) {
  Query q;
  if (!a.target.empty()) q.emplace_back("target", a.target);
  if (!a.since.empty()) q.emplace_back("since", a.since);
  if (a.limit) q.emplace_back("limit", std::to_string(*a.limit));
  if (a.csv) q.emplace_back("format", "csv");
  auto answer = call(ctx, verb::get, apiTarget({"audit"}, q));
  if (!answer) return fail(answer.refusal());
  if (a.csv) {
    // As it came for a file; a terminal gets it without control characters
    // (the line ends survive).
    if (::isatty(STDOUT_FILENO)) {
      std::istringstream in(answer->reply.body);
      std::string line;
      while (std::getline(in, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        std::cout << printable(line) << '\n';
      }
    } else {
      std::cout << answer->reply.body;
    }
    return 0;
  }
  if (ctx.json) {
    echo(answer->reply);
    return 0;
  }
  return renderAudit(answer->value);
}

// Prints one line for the verbs whose answer is a confirmation.
Render say(std::string line) {
  return [line = std::move(line)](const json::value&) {
    std::cout << printable(line) << '\n';
    return 0;
  };
}

// ---------------------------------------------------------------- command line

// "jitctl target add" for the deepest subcommand given, to name it in errors.
std::string commandPath(const CLI::App& app) {
  std::string path = app.get_name();
  const CLI::App* at = &app;
  while (true) {
    auto subs = at->get_subcommands();
    if (subs.empty()) break;
    at = subs.front();
    path += " " + at->get_name();
  }
  return path;
}

int run(int argc, char** argv) {
  CLI::App app{"jitctl: manage and request just-in-time access through jitgated", "jitctl"};
  // Global options may come after the verb too: `jitctl target list --json`.
  app.fallthrough();
  app.require_subcommand(1);
  app.failure_message([](const CLI::App* a, const CLI::Error& e) {
    return commandPath(*a) + ": " + e.what() + " (see --help)\n";
  });

  Context ctx;
  std::string socketFlag;
  app.add_option(
      "--socket", socketFlag,
      "control socket (default: $JITGATE_SOCKET, else " + std::string(kDefaultSocket) + ")");
  app.add_flag("--json", ctx.json, "print the API's JSON answer as it is");

  Args a;
  std::function<int()> action;
  // The verb to run once the whole line has parsed.
  auto on = [&action](CLI::App* sub, std::function<int()> fn) {
    sub->callback([&action, fn = std::move(fn)] { action = fn; });
  };
  auto group = [&app](const char* name, const char* what) {
    auto* g = app.add_subcommand(name, what);
    g->require_subcommand(1);
    return g;
  };
  auto addWindow = [&a](CLI::App* sub) {
    auto* f = sub->add_option("--for", a.window.forDuration, "window length (30m, 3h, PT3H)");
    auto* u = sub->add_option("--until", a.window.until, "window end (RFC 3339)");
    f->excludes(u);
  };

  on(app.add_subcommand("whoami", "who the daemon takes you for, and your roles"),
     [&] { return serve(ctx, verb::get, apiTarget({"whoami"}), {}, renderWhoami); });
  on(app.add_subcommand("status", "the daemon's state at a glance"),
     [&] { return serve(ctx, verb::get, apiTarget({"status"}), {}, renderStatus); });

  auto* target = group("target", "enroll, list and remove targets");
  {
    auto* add = target->add_subcommand("add", "enroll a target");
    add->add_option("NAME", a.name, "target name")->required();
    add->add_option("--address", a.address, "host name or address")->required();
    add->add_option("--os", a.os, "linux or windows")->required();
    add->add_option("--ssh-port", a.sshPort, "port sshd listens on (22)");
    add->add_option("--winrm-http-port", a.winrmHttpPort, "WinRM HTTP port (5985)");
    add->add_option("--winrm-https-port", a.winrmHttpsPort, "WinRM HTTPS port (5986)");
    on(add, [&] { return addTarget(ctx, a); });

    on(target->add_subcommand("list", "list targets and their JIT state"),
       [&] { return serve(ctx, verb::get, apiTarget({"targets"}), {}, renderTargets); });

    auto* show = target->add_subcommand("show", "show one target");
    show->add_option("NAME", a.name, "target name")->required();
    on(show, [&] {
      return serve(ctx, verb::get, apiTarget({"targets", a.name}), {}, renderTarget);
    });

    auto* remove = target->add_subcommand("remove", "revoke a target's grants and remove it");
    remove->add_option("NAME", a.name, "target name")->required();
    on(remove, [&] {
      return serve(ctx, verb::delete_, apiTarget({"targets", a.name}), {},
                   say("removed target " + a.name));
    });
  }

  auto* policy = group("policy", "JIT policies of targets");
  {
    auto* enable = policy->add_subcommand(
        "enable",
        "set a target's JIT policy (replaces the current one; OS defaults without --port)");
    enable->add_option("TARGET", a.target, "target name")->required();
    enable->add_option("--port", a.ports, "port to open on request (repeatable)");
    enable->add_option("--from", a.from,
                       "allowed source prefix for every --port (repeatable; default any)");
    enable->add_option("--max", a.max, "longest window for every --port (default PT3H)");
    enable->add_flag("--require-approval", a.requireApproval, "requests wait for an admin");
    enable
        ->add_option("--min-request-prefix-v4", a.minPrefixV4,
                     "the widest IPv4 source a request may ask for, as a prefix length (24)")
        ->check(CLI::Range(0, 32));
    enable
        ->add_option("--min-request-prefix-v6", a.minPrefixV6,
                     "the widest IPv6 source a request may ask for, as a prefix length (64)")
        ->check(CLI::Range(0, 128));
    on(enable, [&] { return enablePolicy(ctx, a); });

    auto* show = policy->add_subcommand("show", "show a target's policy");
    show->add_option("TARGET", a.target, "target name")->required();
    on(show, [&] {
      return serve(ctx, verb::get, apiTarget({"targets", a.target, "policy"}), {}, renderPolicy);
    });

    on(policy->add_subcommand("list", "list all policies, one line per port"),
       [&] { return serve(ctx, verb::get, apiTarget({"policies"}), {}, renderPolicies); });

    auto* disable =
        policy->add_subcommand("disable", "remove a target's policy and revoke its grants");
    disable->add_option("TARGET", a.target, "target name")->required();
    on(disable, [&] {
      return serve(ctx, verb::delete_, apiTarget({"targets", a.target, "policy"}), {},
                   say("disabled the JIT policy of " + a.target));
    });
  }

  {
    auto* grant = app.add_subcommand("grant", "open a window for a user (prints the grant id)");
    grant->add_option("USER", a.user, "login name")->required();
    grant->add_option("TARGET", a.target, "target name")->required();
    grant->add_option("--port", a.port, "target port")->required();
    grant->add_option("--from", a.source, "source address or prefix")->required();
    addWindow(grant);
    grant->add_option("--justification", a.justification, "why");
    grant->add_flag("--allow-any-source", a.allowAnySource, "permit --from '*' or a /0");
    on(grant, [&] { return createGrant(ctx, a); });
  }

  {
    auto* request =
        app.add_subcommand("request", "ask for a window for yourself (prints the request id)");
    request->add_option("TARGET", a.target, "target name")->required();
    request->add_option("--port", a.ports, "target port (repeatable)")->required();
    auto* from = request->add_option("--from", a.source, "your source address or prefix");
    auto* mine = request->add_flag("--my-ip", a.myIp, "your address, from $SSH_CONNECTION");
    from->excludes(mine);
    addWindow(request);
    request->add_option("--justification", a.justification, "why")->required();
    on(request, [&] { return createRequest(ctx, a); });
  }

  {
    auto* approve = app.add_subcommand("approve", "approve a pending request");
    approve->add_option("REQUEST", a.id, "request id")->required();
    on(approve, [&] {
      return serve(ctx, verb::post, apiTarget({"requests", a.id, "approve"}), {}, renderDecided);
    });

    auto* deny = app.add_subcommand("deny", "deny a pending request");
    deny->add_option("REQUEST", a.id, "request id")->required();
    deny->add_option("--reason", a.reason, "told to the requester");
    on(deny, [&] {
      json::object o;
      if (!a.reason.empty()) o["reason"] = a.reason;
      return serve(ctx, verb::post, apiTarget({"requests", a.id, "deny"}), json::serialize(o),
                   renderDecided);
    });

    auto* requests = app.add_subcommand("requests", "list access requests");
    requests->add_option("--state", a.state, "pending, approved or denied");
    on(requests, [&] {
      Query q;
      if (!a.state.empty()) q.emplace_back("state", a.state);
      return serve(ctx, verb::get, apiTarget({"requests"}, q), {}, renderRequests);
    });
  }

  {
    auto* grants = app.add_subcommand("grants", "list grants");
    grants->add_flag("--active", a.active, "only those in force now");
    grants->add_option("--user", a.user, "only this user's");
    grants->add_option("--target", a.target, "only on this target");
    on(grants, [&] {
      Query q;
      if (a.active) q.emplace_back("active", "true");
      if (!a.user.empty()) q.emplace_back("user", a.user);
      if (!a.target.empty()) q.emplace_back("target", a.target);
      return serve(ctx, verb::get, apiTarget({"grants"}, q), {}, renderGrants);
    });

    auto* revoke = app.add_subcommand("revoke", "end a grant now and cut its sessions");
    revoke->add_option("GRANT", a.id, "grant id")->required();
    on(revoke, [&] {
      return serve(
          ctx, verb::post, apiTarget({"grants", a.id, "revoke"}), {}, [](const json::value& g) {
            std::cout << printable("grant " + text(g, "id") + " is " + text(g, "state")) << '\n';
            return 0;
          });
    });
  }

  auto* user = group("user", "users and their SSH public keys");
  {
    auto* add = user->add_subcommand("add", "register a user's keys (appends to an existing user)");
    add->add_option("NAME", a.name, "login name")->required();
    add->add_option("--key", a.keyFiles, "public key file, authorized_keys format; - for stdin")
        ->required();
    on(add, [&] { return addUser(ctx, a); });

    on(user->add_subcommand("list", "list users and key fingerprints"),
       [&] { return serve(ctx, verb::get, apiTarget({"users"}), {}, renderUsers); });

    auto* remove = user->add_subcommand("remove", "remove a user");
    remove->add_option("NAME", a.name, "login name")->required();
    on(remove, [&] {
      return serve(ctx, verb::delete_, apiTarget({"users", a.name}), {},
                   say("removed user " + a.name));
    });
  }

  {
    auto* auditCmd = app.add_subcommand("audit", "the activity log, oldest first");
    auditCmd->add_option("--target", a.target, "only this target");
    auditCmd->add_option("--since", a.since, "RFC 3339 time, or a duration back from now (24h)");
    auditCmd->add_option("--limit", a.limit, "only the newest N entries");
    auditCmd->add_flag("--csv", a.csv, "RFC 4180 CSV, as the daemon exports it");
    on(auditCmd, [&] { return audit(ctx, a); });
  }

  {
    auto* cert = app.add_subcommand("cert", "certificates for a grant you hold");
    cert->require_subcommand(1);
    auto* ssh = cert->add_subcommand("ssh", "an OpenSSH user certificate for your public key");
    ssh->add_option("GRANT", a.id, "grant id")->required();
    ssh->add_option("--pubkey", a.pubkey, "your public key file (e.g. ~/.ssh/id_ed25519.pub)")
        ->required();
    ssh->add_option("-o", a.out, "write the certificate here (e.g. ~/.ssh/id_ed25519-cert.pub)");
    on(ssh, [&] { return certSsh(ctx, a); });
    auto* x509 = cert->add_subcommand("x509", "a client key and certificate for WinRM over HTTPS");
    x509->add_option("GRANT", a.id, "grant id")->required();
    x509->add_option("-o", a.out, "write PREFIX.key, PREFIX.crt and PREFIX-ca.crt");
    on(x509, [&] { return certX509(ctx, a); });
  }

  {
    auto* ca = app.add_subcommand("ca", "the certificate authority");
    ca->require_subcommand(1);
    auto* exp = ca->add_subcommand("export", "the CA's public keys for targets to trust");
    exp->add_flag("--ssh", a.ssh, "TrustedUserCAKeys lines");
    exp->add_flag("--x509", a.x509, "the client CA certificate (PEM)");
    on(exp, [&] { return caExport(ctx, a); });
    auto* krl = ca->add_subcommand("krl", "the revocation list for sshd's RevokedKeys");
    krl->add_option("-o", a.out, "write it to this file");
    on(krl, [&] { return caKrl(ctx, a); });
    auto* rotate = ca->add_subcommand("rotate", "sign with a new SSH CA key from now on");
    rotate->add_option("--algorithm", a.algorithm, "ed25519 (default), ecdsa-p256 or rsa-3072");
    on(rotate, [&] {
      json::object o;
      if (!a.algorithm.empty()) o["algorithm"] = a.algorithm;
      return serve(ctx, verb::post, apiTarget({"ca", "ssh", "rotate"}), json::serialize(o),
                   [](const json::value& k) {
                     std::cout << "new SSH CA key " << printable(text(k, "id")) << ": "
                               << printable(text(k, "publicKey")) << '\n';
                     return 0;
                   });
    });
  }

  {
    auto* checkCmd = app.add_subcommand(
        "check", "would a connection be let through now? (exit 0 allowed, 1 denied)");
    checkCmd->add_option("USER", a.user, "login name")->required();
    checkCmd->add_option("TARGET", a.target, "target name")->required();
    checkCmd->add_option("--port", a.port, "target port")->required();
    checkCmd->add_option("--source", a.source, "source address")->required();
    on(checkCmd, [&] { return check(ctx, a); });
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }

  if (!socketFlag.empty()) {
    ctx.socket = socketFlag;
  } else if (const char* env = std::getenv("JITGATE_SOCKET"); env && *env) {
    ctx.socket = env;
  } else {
    ctx.socket = kDefaultSocket;
  }
  if (!action) return usage("no command given (see --help)");
  return action();
}

}  // namespace
}  // namespace jitgate

int main(int argc, char** argv) {
  // Exceptions are not expected here (bad_alloc, a stream error): one line,
  // not an abort with a core.
  try {
    return jitgate::run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "jitctl: " << jitgate::printable(e.what()) << '\n';
    return 1;
  }
}
