// pam_jitgate's logic: module arguments, the certificate check at session
// open, the online grant check and the cutoff watchdog's start.
#include "jitgate/pam/module.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <boost/url.hpp>
#include <cerrno>
#include <cstring>

#include "jitgate/control_client.hpp"
#include "jitgate/files.hpp"
#include "jitgate/net.hpp"
#include "jitgate/ssh_cert.hpp"
#include "jitgate/ssh_wire.hpp"
#include "jitgate/text.hpp"

extern char** environ;

namespace jitgate::pam {
namespace {

Verdict deny(std::string why) { return Verdict{false, std::move(why), 0}; }

// Reads a root-owned file that others may not write: whoever could write
// the CA or KRL file could let anyone in.
Result<std::string> readTrustedFile(const std::string& path, const char* what) {
  return readRestrictedFile(path, rootFileRules(what, RefusalCode::InvalidArgument));
}

bool parseNumber(std::string_view s, long min, long max, long& out) {
  if (s.empty() || s.size() > 9 || s.find_first_not_of("0123456789") != std::string_view::npos)
    return false;
  out = std::stol(std::string(s));
  return out >= min && out <= max;
}

}  // namespace

Result<ModuleArgs> parseArgs(const std::vector<std::string>& argv) {
  ModuleArgs a;
  for (const auto& arg : argv) {
    auto eq = arg.find('=');
    std::string key = arg.substr(0, eq);
    std::string value = eq == std::string::npos ? "" : arg.substr(eq + 1);
    auto needsValue = [&]() -> Status {
      if (eq == std::string::npos || value.empty()) return invalid(key, "needs a value");
      return okStatus();
    };
    auto absolute = [&]() -> Status {
      if (auto s = needsValue(); !s) return s;
      if (value[0] != '/') return invalid(key, "must be an absolute path");
      return okStatus();
    };
    long n = 0;
    if (key == "ca") {
      if (auto s = absolute(); !s) return s.refusal();
      a.caKeysFile = value;
    } else if (key == "krl") {
      if (auto s = absolute(); !s) return s.refusal();
      a.krlFile = value;
    } else if (key == "online") {
      if (auto s = absolute(); !s) return s.refusal();
      a.onlineSocket = value;
    } else if (key == "cutoff") {
      if (auto s = absolute(); !s) return s.refusal();
      a.cutoffHelper = value;
    } else if (key == "target") {
      if (auto s = needsValue(); !s) return s.refusal();
      if (value.size() > 64 ||
          value.find_first_not_of(
              "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
              std::string::npos)
        return invalid(key, "not a target name");
      a.target = value;
    } else if (key == "port") {
      if (!parseNumber(value, 1, 65535, n)) return invalid(key, "must be 1..65535");
      a.port = static_cast<uint16_t>(n);
    } else if (key == "timeout") {
      if (!parseNumber(value, 1, 60000, n)) return invalid(key, "must be 1..60000 (ms)");
      a.timeoutMs = static_cast<int>(n);
    } else if (key == "grace") {
      if (!parseNumber(value, 0, 3600, n)) return invalid(key, "must be 0..3600 (s)");
      a.graceSeconds = static_cast<int>(n);
    } else if (key == "unreachable") {
      if (value != "deny" && value != "allow") return invalid(key, "must be deny or allow");
      a.failOpen = value == "allow";
    } else if (key == "cgroup") {
      if (value != "required" && value != "optional")
        return invalid(key, "must be required or optional");
      a.cgroupRequired = value == "required";
    } else if (key == "account") {
      if (value != "defer") return invalid(key, "the only value is defer");
      a.deferAccount = true;
    } else if (key == "debug" && eq == std::string::npos) {
      a.debug = true;
    } else {
      return invalid(key.substr(0, 32), "unknown argument");
    }
  }
  if (a.caKeysFile.empty()) return invalid("ca", "is required");
  // The certificate must name this target: without it a certificate for any
  // target of the fleet would pass here.
  if (a.target.empty()) return invalid("target", "is required (this host's jitgate target name)");
  return a;
}

Verdict checkCertificate(const ModuleArgs& args, const std::string& user, const std::string& rhost,
                         const std::string& authInfo, int64_t now) {
  if (user.empty()) return deny("no user");
  if (rhost.empty()) return deny("no remote host (PAM_RHOST)");
  if (authInfo.empty())
    return deny("no SSH_AUTH_INFO_0: not an sshd public key login, or ExposeAuthInfo is off");
  auto ca = readTrustedFile(args.caKeysFile, "ca");
  if (!ca) return deny(ca.refusal().describe());
  std::string krl;
  if (!args.krlFile.empty()) {
    auto k = readTrustedFile(args.krlFile, "krl");
    if (!k) return deny(k.refusal().describe());
    krl = std::move(*k);
  }
  std::string line = certificateFromAuthInfo(authInfo);
  if (line.empty()) return deny("the login did not use a certificate");
  auto cert = parseSshCertificateLine(line);
  if (!cert) return deny("malformed certificate: " + cert.refusal().message);
  auto addr = IpAddress::parse(rhost);
  if (!addr) return deny("PAM_RHOST '" + rhost.substr(0, 64) + "' is not an IP address");
  CertExpectations x;
  x.principal = user;
  x.target = args.target;
  x.source = *addr;
  x.now = static_cast<uint64_t>(now);
  auto keys = parseTrustedCaKeys(*ca);
  if (!keys) return deny(args.caKeysFile + ": " + keys.refusal().message);
  x.trustedCaKeys = std::move(*keys);
  if (!krl.empty()) {
    auto revoked = parseKrl(krl);
    if (!revoked) return deny("unreadable KRL " + args.krlFile + ": " + revoked.refusal().message);
    x.revoked = std::move(*revoked);
  }
  std::string why;
  if (checkSshCertificate(*cert, x, &why) != CertCheck::Ok)
    return deny(why + " (serial " + std::to_string(cert->serial) + ", key id \"" +
                printable(cert->keyId, 128) + "\")");
  return Verdict{true,
                 "certificate serial " + std::to_string(cert->serial) + " valid until " +
                     std::to_string(cert->validBefore),
                 cert->validBefore};
}

Verdict checkOnline(const ModuleArgs& args, const std::string& user, const std::string& rhost) {
  if (args.onlineSocket.empty()) return deny("no online= socket configured");
  boost::urls::url u;
  u.set_path("/v1/decision");
  u.params().append({"user", user});
  u.params().append({"target", args.target});
  u.params().append({"port", std::to_string(args.port)});
  u.params().append({"source", rhost});
  CallLimits limits;
  limits.timeout = std::chrono::milliseconds(args.timeoutMs);
  limits.bodyLimit = 64 * 1024;
  auto reply = callApi(args.onlineSocket, boost::beast::http::verb::get, std::string(u.buffer()),
                       "", limits);
  // Only a transport failure (nothing listening, no answer in time) may
  // let in with unreachable=allow: any answer, an error status or a garbled
  // one included, is definite, and only "allowed": true admits.
  auto unreachable = [&](const std::string& why) {
    if (args.failOpen)
      return Verdict{true, "jitgated unreachable (" + why + "); unreachable=allow", 0};
    return deny("jitgated unreachable (" + why + "); failing closed");
  };
  auto definite = [&](const std::string& why) {
    return deny("jitgated answered " + why + "; denied" +
                (args.failOpen ? " (unreachable=allow covers no answer only)" : ""));
  };
  if (!reply) {
    if (reply.refusal().field == kNotAnAnswer) return definite(reply.refusal().message);
    return unreachable(reply.refusal().message);
  }
  if (reply->status != 200)
    return definite("HTTP " + std::to_string(reply->status) + ": " +
                    printable(apiRefusal(*reply).describe(), 200));
  boost::system::error_code ec;
  auto v = boost::json::parse(reply->body, ec);
  const boost::json::object* o = ec ? nullptr : v.if_object();
  const boost::json::value* allowed = o ? o->if_contains("allowed") : nullptr;
  if (!allowed || !allowed->is_bool()) return definite("HTTP 200 without a decision");
  if (allowed->as_bool()) {
    const auto* g = o->if_contains("grant");
    return Verdict{true, "grant " + (g && g->is_string() ? std::string(g->as_string()) : "?"), 0};
  }
  const auto* m = o->if_contains("message");
  return deny("no active grant: " +
              (m && m->is_string() ? printable(std::string(m->as_string()), 200) : "?"));
}

Result<UniqueFd> armCutoff(const ModuleArgs& args, pid_t sessionPid, uint64_t validBefore,
                           const std::string& cgroupDir, bool ownedCgroup) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return invalid("cutoff", std::strerror(errno));
  UniqueFd readEnd(fds[0]), writeEnd(fds[1]);
  // The read end goes to the helper as fd 3; only the write end stays here.
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[0], 3);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  std::string pid = std::to_string(sessionPid), until = std::to_string(validBefore),
              grace = std::to_string(args.graceSeconds);
  std::vector<char*> argv{const_cast<char*>(args.cutoffHelper.c_str()),
                          const_cast<char*>("--pid"),
                          pid.data(),
                          const_cast<char*>("--until"),
                          until.data(),
                          const_cast<char*>("--grace"),
                          grace.data(),
                          const_cast<char*>("--fd"),
                          const_cast<char*>("3")};
  std::string owned = ownedCgroup ? "1" : "0";
  if (!cgroupDir.empty()) {
    argv.push_back(const_cast<char*>("--cgroup"));
    argv.push_back(const_cast<char*>(cgroupDir.c_str()));
    argv.push_back(const_cast<char*>("--owned"));
    argv.push_back(owned.data());
  }
  argv.push_back(nullptr);
  char* envp[] = {nullptr};
  pid_t child = 0;
  // posix_spawn, not fork: safe in a multi-threaded host. The helper
  // detaches itself (double fork) so that the session never reaps it.
  int rc = posix_spawn(&child, args.cutoffHelper.c_str(), &fa, nullptr, argv.data(), envp);
  posix_spawn_file_actions_destroy(&fa);
  readEnd.reset();
  if (rc != 0) return invalid("cutoff", args.cutoffHelper + ": " + std::strerror(rc));
  int status = 0;
  if (::waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return invalid("cutoff", args.cutoffHelper + " did not start its watchdog");
  (void)environ;
  return writeEnd;
}

}  // namespace jitgate::pam
