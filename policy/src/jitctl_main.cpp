// jitctl: the admin and requester CLI. Each verb is one control-API call
// (docs/CONTROL_API.md); the answer is printed as a table, or as the API's
// own JSON with --json. This file is the command line; the verbs that do more
// than one call and a table are in jitctl_verbs.cpp.

#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <functional>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

#include "jitctl_recordings.hpp"
#include "jitctl_verbs.hpp"
#include "jitgate/cli_call.hpp"
#include "jitgate/cli_render.hpp"

namespace jitgate {
namespace {

namespace json = boost::json;
using boost::beast::http::verb;
using namespace cli;
using namespace jitctl;

constexpr const char* kDefaultSocket = "/run/jitgate/control.sock";

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
      return serve(ctx, verb::get, apiTarget({"requests"}, filters({{"state", a.state}})), {},
                   renderRequests);
    });
  }

  {
    auto* grants = app.add_subcommand("grants", "list grants");
    grants->add_flag("--active", a.active, "only those in force now");
    grants->add_option("--user", a.user, "only this user's");
    grants->add_option("--target", a.target, "only on this target");
    on(grants, [&] {
      Query q =
          filters({{"active", a.active ? "true" : ""}, {"user", a.user}, {"target", a.target}});
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
      Query q = filters({{"user", a.user}, {"target", a.target}, {"grant", a.grant}});
      return serve(ctx, verb::get, apiTarget({"sessions"}, q), {}, renderSessions);
    });
    auto* nodes = app.add_subcommand("nodes", "the nodes sharing the store (readers)");
    on(nodes, [&] { return serve(ctx, verb::get, apiTarget({"nodes"}), {}, renderNodes); });
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
