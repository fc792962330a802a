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
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "jitctl_recordings.hpp"
#include "jitgate/cli_call.hpp"
#include "jitgate/cli_render.hpp"
#include "jitgate/control_client.hpp"
#include "jitgate/files.hpp"

namespace jitgate {
namespace {

namespace json = boost::json;
using boost::beast::http::verb;
using namespace cli;

constexpr const char* kDefaultSocket = "/run/jitgate/control.sock";

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
  // sessions, session kill
  std::string grant, killReason;
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
    std::cerr << "jitctl: certificate for " << shown(text(v, "principal")) << " valid "
              << shown(text(v, "validAfterUtc")) << " .. " << shown(text(v, "validBeforeUtc"))
              << " written to " << shown(a.out) << '\n';
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
    std::cerr << "jitctl: " << shown(a.out) << ".key, " << shown(a.out) << ".crt and "
              << shown(a.out) << "-ca.crt written (valid until " << shown(text(v, "validBeforeUtc"))
              << ")\n";
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
      ctx, verb::post, apiTarget({"targets"}), json::serialize(o),
      [](std::ostream& out, const json::value& t) {
        std::string line = "target " + text(t, "name") + " added: " + stateLabel(text(t, "state"));
        if (auto r = text(t, "reason"); !r.empty()) line += " (" + r + ")";
        out << shown(line) << '\n';
        if (auto* others = t.as_object().if_contains("sharesAddressWith");
            others && others->is_array()) {
          std::string names;
          for (const auto& n : others->as_array())
            if (n.is_string()) names += (names.empty() ? "" : ", ") + std::string(n.as_string());
          std::cerr << shown("warning: address " + text(t, "address") + " is also " + names +
                             "'s: a client naming the address (ssh -J, -W, -L) gets the "
                             "target whose grant covers it, and is refused when several "
                             "do; name targets to be sure")
                    << '\n';
        }
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
int printId(std::ostream& out, const json::value& v) {
  std::string id = text(v, "id");
  if (id.empty())
    return fail(Refusal{RefusalCode::Unavailable, "", "the daemon's answer has no id"});
  out << shown(id) << '\n';
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
  else if (int rc = printId(std::cout, r); rc != 0)
    return rc;
  // stderr, so that stdout stays the bare id for scripts.
  if (text(r, "state") == "pending")
    std::cerr << "request " << shown(text(r, "id")) << " is pending approval\n";
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
    std::cout << shown("allowed by " + text(d, "grant") + " until " + text(d, "endTimeUtc"))
              << '\n';
  } else {
    std::cout << shown("denied: " + text(d, "reason") + ": " + text(d, "message")) << '\n';
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
  return serve(ctx, verb::post, apiTarget({"users"}), json::serialize(o),
               [](std::ostream& out, const json::value& u) {
                 json::array one;
                 one.push_back(u);
                 return renderUsers(out, one);
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
        std::cout << shown(line) << '\n';
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
  return renderAudit(std::cout, answer->value);
}

// Prints one line for the verbs whose answer is a confirmation.
Render say(std::string line) {
  return [line = std::move(line)](std::ostream& out, const json::value&) {
    out << shown(line) << '\n';
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
    // "A subcommand is required" hides the word that was not one: name it.
    const CLI::App* at = a;
    while (!at->get_subcommands().empty()) at = at->get_subcommands().front();
    auto extra = a->remaining(true);
    if (!at->get_subcommands({}).empty() && !extra.empty())
      return commandPath(*a) + ": unknown command '" + printable(extra.front()) +
             "' (see --help)\n";
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
      return serve(ctx, verb::post, apiTarget({"grants", a.id, "revoke"}), {},
                   [](std::ostream& out, const json::value& g) {
                     out << shown("grant " + text(g, "id") + " is " + text(g, "state")) << '\n';
                     return 0;
                   });
    });
  }

  {
    auto* sessions = app.add_subcommand("sessions", "live sessions through this bastion");
    sessions->add_option("--user", a.user, "only this user's");
    sessions->add_option("--target", a.target, "only on this target");
    sessions->add_option("--grant", a.grant, "only under this grant");
    on(sessions, [&] {
      Query q;
      if (!a.user.empty()) q.emplace_back("user", a.user);
      if (!a.target.empty()) q.emplace_back("target", a.target);
      if (!a.grant.empty()) q.emplace_back("grant", a.grant);
      return serve(ctx, verb::get, apiTarget({"sessions"}, q), {}, renderSessions);
    });
    auto* session = group("session", "one live session");
    auto* kill = session->add_subcommand("kill", "end a live session now (admin)");
    kill->add_option("ID", a.id, "session id (jitctl sessions)")->required();
    kill->add_option("--reason", a.killReason, "shown to the user and audited");
    on(kill, [&] {
      json::object o;
      if (!a.killReason.empty()) o["reason"] = a.killReason;
      return serve(ctx, verb::post, apiTarget({"sessions", a.id, "kill"}), json::serialize(o),
                   [](std::ostream& out, const json::value& s) {
                     out << shown("session " + text(s, "id") + " of " + text(s, "user") + " on " +
                                  text(s, "target") + " ended")
                         << '\n';
                     return 0;
                   });
    });
  }

  addRecordingVerbs(app, ctx, on);

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
                   [](std::ostream& out, const json::value& k) {
                     out << "new SSH CA key " << shown(text(k, "id")) << ": "
                         << shown(text(k, "publicKey")) << '\n';
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
