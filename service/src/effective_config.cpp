// The effective configuration as an ordered list of TOML settings.
#include "jitgate/service/effective_config.hpp"

#include <grp.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "jitgate/store.hpp"

namespace jitgate {
namespace {

std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

std::string strings(const std::vector<std::string>& v) {
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + quoted(v[i]);
  return out + "]";
}

std::string seconds(std::chrono::seconds s) { return quoted(std::to_string(s.count()) + "s"); }

std::string listen(const std::optional<ListenAddress>& a) {
  return quoted(a ? a->toString() : "off");
}

}  // namespace

std::vector<Setting> effectiveSettings(const DaemonConfig& c) {
  const auto& s = c.ssh;
  const auto& w = c.winrm;
  const auto& r = c.roles;
  return {
      {"state_dir", quoted(c.stateDir)},
      {"control_socket", quoted(c.controlSocket)},
      {"control_socket_group", quoted(c.controlSocketGroup)},
      {"log_level", quoted(c.logLevel)},
      {"control.max_connections", std::to_string(c.control.maxConnections)},
      {"control.max_connections_per_uid", std::to_string(c.control.maxConnectionsPerUid)},
      {"control.admin_reserve", std::to_string(c.control.adminReserve)},
      {"roles.admins", strings(r.admins.users)},
      {"roles.admin_groups", strings(r.admins.groups)},
      {"roles.requesters", strings(r.requesters.users)},
      {"roles.requester_groups", strings(r.requesters.groups)},
      {"roles.readers", strings(r.readers.users)},
      {"roles.reader_groups", strings(r.readers.groups)},
      {"roles.security_readers", strings(r.securityReaders.users)},
      {"roles.security_reader_groups", strings(r.securityReaders.groups)},
      {"ca.ssh_algorithm", quoted(c.caSshAlgorithm)},
      {"ca.upn_domain", quoted(c.caUpnDomain)},
      {"ssh.listen", listen(s.listen)},
      {"ssh.login_grace_time", seconds(s.loginGraceTime)},
      {"ssh.max_unauthenticated", std::to_string(s.maxUnauthenticated)},
      {"ssh.max_per_source", std::to_string(s.maxPerSource)},
      {"ssh.warn_before", seconds(s.warnBefore)},
      {"ssh.connect_timeout", seconds(s.connectTimeout)},
      {"winrm.http_listen", listen(w.httpListen)},
      {"winrm.https_listen", listen(w.httpsListen)},
      {"winrm.domain", quoted(w.domain)},
      {"winrm.account_domains", strings(w.accountDomains)},
      {"winrm.tls_cert", quoted(w.tlsCert)},
      {"winrm.tls_key", quoted(w.tlsKey)},
      {"winrm.upstream_ca_file", quoted(w.upstreamCaFile)},
      {"winrm.connect_timeout", seconds(w.connectTimeout)},
      {"winrm.request_timeout", seconds(w.requestTimeout)},
      {"winrm.response_timeout", seconds(w.responseTimeout)},
      {"winrm.max_header_bytes", std::to_string(w.maxHeaderBytes)},
      {"winrm.max_body_bytes", std::to_string(w.maxBodyBytes)},
      {"winrm.max_connections", std::to_string(w.maxConnections)},
      {"winrm.max_per_source", std::to_string(w.maxPerSource)},
      {"metrics.listen", listen(c.metrics.listen)},
      // Never the password: this is printed and logged.
      {"store.url", quoted(redactPostgresUrl(c.store.url))},
      {"store.grace", seconds(c.store.grace)},
      {"node.name", quoted(c.node.name)},
      {"node.lost_after", seconds(c.node.lostAfter)},
  };
}

std::string effectiveConfigToml(const DaemonConfig& c) {
  std::string out, section;
  for (const auto& s : effectiveSettings(c)) {
    auto dot = s.key.find('.');
    std::string sec = dot == std::string::npos ? "" : s.key.substr(0, dot);
    if (sec != section) {
      out += "\n[" + sec + "]\n";
      section = sec;
    }
    out += s.key.substr(dot == std::string::npos ? 0 : dot + 1) + " = " + s.value + "\n";
  }
  return out;
}

Result<std::optional<gid_t>> controlSocketGid(const DaemonConfig& c) {
  if (c.controlSocketGroup.empty()) return std::optional<gid_t>{};
  std::vector<char> buf(16384);
  group gr{};
  group* found = nullptr;
  if (getgrnam_r(c.controlSocketGroup.c_str(), &gr, buf.data(), buf.size(), &found) != 0 || !found)
    return invalid("control_socket_group", "no group named '" + c.controlSocketGroup + "'");
  return std::optional<gid_t>{found->gr_gid};
}

Status checkDaemonConfig(const DaemonConfig& c) {
  if (c.stateDir.empty() || c.stateDir[0] != '/')
    return invalid("state_dir", "must be an absolute path");
  if (c.controlSocket.empty() || c.controlSocket[0] != '/')
    return invalid("control_socket", "must be an absolute path");
  if (auto gid = controlSocketGid(c); !gid) return gid.refusal();
  for (auto [key, path] :
       {std::pair{"winrm.tls_cert", &c.winrm.tlsCert}, std::pair{"winrm.tls_key", &c.winrm.tlsKey},
        std::pair{"winrm.upstream_ca_file", &c.winrm.upstreamCaFile}}) {
    if (!path->empty() && ::access(path->c_str(), R_OK) != 0)
      return invalid(key, *path + ": " + std::strerror(errno));
  }
  return okStatus();
}

}  // namespace jitgate
