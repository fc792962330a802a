// jitctl's verbs beyond one call and a table (see jitctl_verbs.hpp): each
// is one control-API call (docs/CONTROL_API.md); the daemon validates
// everything, these check only what they must to build the request.
#include "jitctl_verbs.hpp"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <tuple>
#include <utility>

#include "jitgate/cli_render.hpp"
#include "jitgate/files.hpp"

namespace jitgate::jitctl {

using boost::beast::http::verb;
using namespace cli;

namespace {

// Writes an output file whole (created or replaced, with `mode`).
Status writeFile(const std::string& path, const std::string& data, mode_t mode) {
  if (auto st = writeFileAtomically(path, data, mode); !st)
    return invalid("-o", "cannot write " + st.refusal().message);
  return okStatus();
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

}  // namespace

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
  std::string limit = a.limit ? std::to_string(*a.limit) : "";
  Query q = filters(
      {{"target", a.target}, {"since", a.since}, {"limit", limit}, {"format", a.csv ? "csv" : ""}});
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

}  // namespace jitgate::jitctl
