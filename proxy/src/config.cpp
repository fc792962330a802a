#include "jitgate/proxy/config.hpp"

#include <sys/stat.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>

#include "jitgate/model.hpp"
#include "jitgate/net.hpp"
#include "jitgate/store.hpp"
#include "jitgate/text.hpp"
#include "jitgate/timefmt.hpp"

namespace jitgate {
namespace {

Refusal configError(const std::string& key, const std::string& why) { return invalid(key, why); }

Status checkKeys(const toml::table& t, const std::string& prefix,
                 const std::set<std::string>& known) {
  for (const auto& [k, v] : t) {
    std::string key(k.str());
    if (!known.count(key))
      return configError(prefix + key, "unknown setting (see README.md, Configuration)");
  }
  return okStatus();
}

Status readString(const toml::table& t, const std::string& prefix, const char* key,
                  std::string& out) {
  if (const auto* n = t.get(key)) {
    auto s = n->value<std::string>();
    if (!n->is_string() || !s) return configError(prefix + key, "must be a string");
    out = *s;
  }
  return okStatus();
}

Status readStrings(const toml::table& t, const std::string& prefix, const char* key,
                   std::vector<std::string>& out) {
  if (const auto* n = t.get(key)) {
    const auto* arr = n->as_array();
    if (!arr) return configError(prefix + key, "must be an array of strings");
    for (const auto& item : *arr) {
      auto s = item.value<std::string>();
      if (!item.is_string() || !s) return configError(prefix + key, "must be an array of strings");
      out.push_back(*s);
    }
  }
  return okStatus();
}

Status readSeconds(const toml::table& t, const std::string& prefix, const char* key,
                   std::chrono::seconds& out, std::chrono::seconds min, std::chrono::seconds max) {
  if (const auto* n = t.get(key)) {
    auto s = n->value<std::string>();
    if (!n->is_string() || !s)
      return configError(prefix + key, "must be a duration string such as \"30s\" or \"PT5M\"");
    // Zero (to turn a warning off) is not a duration parseDuration takes.
    bool zero = *s == "0" || *s == "0s" || *s == "PT0S";
    auto d = zero ? Result<Seconds>(Seconds(0)) : parseDuration(*s, prefix + key);
    if (!d) return d.refusal();
    if (*d < min || *d > max)
      return configError(prefix + key, "must be between " + std::to_string(min.count()) + " and " +
                                           std::to_string(max.count()) + " seconds");
    out = *d;
  }
  return okStatus();
}

Status readInt(const toml::table& t, const std::string& prefix, const char* key, int& out, int min,
               int max) {
  if (const auto* n = t.get(key)) {
    auto v = n->value<int64_t>();
    if (!n->is_integer() || !v || *v < min || *v > max)
      return configError(prefix + key, "must be an integer from " + std::to_string(min) + " to " +
                                           std::to_string(max));
    out = static_cast<int>(*v);
  }
  return okStatus();
}

Status readListen(const toml::table& t, const std::string& prefix, const char* key,
                  std::optional<ListenAddress>& out) {
  std::string text;
  if (!t.get(key)) return okStatus();
  if (auto st = readString(t, prefix, key, text); !st) return st;
  auto parsed = parseListenAddress(text, prefix + key);
  if (!parsed) return parsed.refusal();
  out = *parsed;
  return okStatus();
}

// A size: bytes, or a number with K, M, G or T (powers of 1024).
Status readSize(const toml::table& t, const std::string& prefix, const char* key, uint64_t& out,
                uint64_t min, uint64_t max) {
  const auto* n = t.get(key);
  if (!n) return okStatus();
  std::string text;
  if (auto v = n->value<int64_t>(); n->is_integer() && v && *v >= 0) {
    text = std::to_string(*v);
  } else if (auto s = n->value<std::string>(); n->is_string() && s) {
    text = *s;
  } else {
    return configError(prefix + key, "must be a size such as \"64M\" or \"4G\"");
  }
  if (text.empty()) return configError(prefix + key, "must be a size such as \"64M\" or \"4G\"");
  size_t digits = text.find_first_not_of("0123456789");
  std::string unit = digits == std::string::npos ? "" : text.substr(digits);
  static const std::pair<const char*, int> kUnits[] = {
      {"", 0}, {"K", 10}, {"M", 20}, {"G", 30}, {"T", 40}};
  int shift = -1;
  for (auto [u, sh] : kUnits)
    if (unit == u) shift = sh;
  if (digits == 0 || shift < 0 || text.size() - unit.size() > 12)
    return configError(prefix + key, "must be a size such as \"64M\" or \"4G\"");
  uint64_t v = std::stoull(text.substr(0, digits)) << shift;
  if (v < min || v > max)
    return configError(prefix + key, "must be between " + std::to_string(min) + " and " +
                                         std::to_string(max) + " bytes");
  out = v;
  return okStatus();
}

Status readRecordings(const toml::table& t, RecordingSettings& r) {
  if (auto st =
          checkKeys(t, "recordings.",
                    {"record", "max_size", "budget", "retention", "when_full", "flush_interval"});
      !st)
    return st;
  std::string mode = std::string(toString(r.mode));
  if (auto st = readString(t, "recordings.", "record", mode); !st) return st;
  if (mode == "off")
    r.mode = RecordMode::Off;
  else if (mode == "output")
    r.mode = RecordMode::Output;
  else if (mode == "all")
    r.mode = RecordMode::All;
  else
    return configError("recordings.record", "must be off, output or all");
  if (auto st = readSize(t, "recordings.", "max_size", r.maxBytes, 64 << 10, 1ull << 40); !st)
    return st;
  if (auto st = readSize(t, "recordings.", "budget", r.budgetBytes, 64 << 10, 1ull << 50); !st)
    return st;
  if (r.budgetBytes < r.maxBytes)
    return configError("recordings.budget", "must be at least recordings.max_size");
  using std::chrono::seconds;
  if (auto st = readSeconds(t, "recordings.", "retention", r.retention, seconds(1),
                            seconds(100 * 365 * 86400ll));
      !st)
    return st;
  seconds flush(std::chrono::duration_cast<seconds>(r.flushInterval));
  if (auto st = readSeconds(t, "recordings.", "flush_interval", flush, seconds(1), seconds(60));
      !st)
    return st;
  r.flushInterval = flush;
  std::string whenFull = r.whenFull == WhenFull::Refuse ? "refuse" : "continue";
  if (auto st = readString(t, "recordings.", "when_full", whenFull); !st) return st;
  if (whenFull == "refuse")
    r.whenFull = WhenFull::Refuse;
  else if (whenFull == "continue")
    r.whenFull = WhenFull::Continue;
  else
    return configError("recordings.when_full", "must be refuse or continue");
  return okStatus();
}

// [winrm.http_target_listen] and [winrm.https_target_listen]: a table of
// TARGET = "ADDR:PORT". Each address once, on neither front's own.
Status readTargetListen(const toml::table& t, const char* key, std::vector<WinrmTargetListen>& out,
                        std::set<std::string>& taken) {
  const auto* n = t.get(key);
  if (!n) return okStatus();
  std::string field = std::string("winrm.") + key;
  const auto* table = n->as_table();
  if (!table) return configError(field, "must be a table of TARGET = \"ADDR:PORT\"");
  for (const auto& [k, v] : *table) {
    std::string target(k.str()), entry = field + "." + std::string(k.str());
    if (auto st = validateName(target, entry); !st)
      return configError(entry, "'" + printable(target, 64) + "' is not a target name");
    std::string text;
    if (auto st = readString(*table, field + ".", target.c_str(), text); !st) return st;
    auto parsed = parseListenAddress(text, entry);
    if (!parsed) return parsed.refusal();
    if (!*parsed) return configError(entry, "must be ADDR:PORT (remove the line for none)");
    if ((*parsed)->port != 0 && !taken.insert((*parsed)->toString()).second)
      return configError(entry, (*parsed)->toString() + " is already a WinRM listener");
    out.push_back({target, **parsed});
  }
  return okStatus();
}

}  // namespace

std::string ListenAddress::toString() const {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

Result<std::optional<ListenAddress>> parseListenAddress(const std::string& text,
                                                        const std::string& field) {
  if (text == "off") return std::optional<ListenAddress>{};
  std::string host, port;
  if (!text.empty() && text[0] == '[') {
    auto close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return invalid(field, "must be ADDR:PORT, [V6]:PORT or off");
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string::npos || text.find(':') != colon)
      return invalid(field, "must be ADDR:PORT, [V6]:PORT or off");
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  auto addr = IpAddress::parse(host, field);
  if (!addr) return invalid(field, "'" + host + "' is not an IP address");
  if (port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string::npos || std::stoul(port) > 65535)
    return invalid(field, "port must be a number from 0 to 65535");
  return std::optional<ListenAddress>{ListenAddress{host, static_cast<uint16_t>(std::stoul(port))}};
}

Result<DaemonConfig> loadConfig(const std::string& path) {
  DaemonConfig c;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    return configError(path, std::string("cannot read: ") + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return configError(path, "is not a regular file");
  // Whoever can write the config can make themselves admin.
  if (st.st_uid != 0 && st.st_uid != ::geteuid())
    return configError(path, "must be owned by root or jitgated's user");
  if (st.st_mode & (S_IWGRP | S_IWOTH))
    return configError(path, "must not be writable by group or others");
  toml::table root;
  try {
    root = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    std::string where = e.source().begin ? " at line " + std::to_string(e.source().begin.line) : "";
    return configError(path, std::string(e.description()) + where);
  }
  if (auto st =
          checkKeys(root, "",
                    {"state_dir", "control_socket", "control_socket_group", "log_level", "roles",
                     "control", "ca", "ssh", "winrm", "metrics", "store", "node", "recordings"});
      !st)
    return st.refusal();
  if (auto st = readString(root, "", "state_dir", c.stateDir); !st) return st.refusal();
  if (auto st = readString(root, "", "control_socket", c.controlSocket); !st) return st.refusal();
  if (auto st = readString(root, "", "control_socket_group", c.controlSocketGroup); !st)
    return st.refusal();
  if (auto st = readString(root, "", "log_level", c.logLevel); !st) return st.refusal();
  static const std::set<std::string> levels = {"trace", "debug", "info", "warn", "error"};
  if (!levels.count(c.logLevel))
    return configError("log_level", "must be one of trace, debug, info, warn, error");

  if (const auto* n = root.get("roles")) {
    const auto* t = n->as_table();
    if (!t) return configError("roles", "must be a table");
    if (auto st = checkKeys(*t, "roles.",
                            {"admins", "admin_groups", "requesters", "requester_groups", "readers",
                             "reader_groups", "security_readers", "security_reader_groups"});
        !st)
      return st.refusal();
    struct {
      const char* users;
      const char* groups;
      RoleList* list;
    } lists[] = {{"admins", "admin_groups", &c.roles.admins},
                 {"requesters", "requester_groups", &c.roles.requesters},
                 {"readers", "reader_groups", &c.roles.readers},
                 {"security_readers", "security_reader_groups", &c.roles.securityReaders}};
    for (auto& l : lists) {
      if (auto st = readStrings(*t, "roles.", l.users, l.list->users); !st) return st.refusal();
      if (auto st = readStrings(*t, "roles.", l.groups, l.list->groups); !st) return st.refusal();
    }
  }
  if (const auto* n = root.get("control")) {
    const auto* t = n->as_table();
    if (!t) return configError("control", "must be a table");
    auto& k = c.control;
    if (auto st = checkKeys(*t, "control.",
                            {"max_connections", "max_connections_per_uid", "admin_reserve"});
        !st)
      return st.refusal();
    if (auto st = readInt(*t, "control.", "max_connections", k.maxConnections, 2, 100000); !st)
      return st.refusal();
    if (auto st =
            readInt(*t, "control.", "max_connections_per_uid", k.maxConnectionsPerUid, 1, 100000);
        !st)
      return st.refusal();
    if (auto st = readInt(*t, "control.", "admin_reserve", k.adminReserve, 1, 100000); !st)
      return st.refusal();
    if (k.adminReserve >= k.maxConnections)
      return configError("control.admin_reserve", "must be less than control.max_connections");
  }
  if (const auto* n = root.get("ca")) {
    const auto* t = n->as_table();
    if (!t) return configError("ca", "must be a table");
    if (auto st = checkKeys(*t, "ca.", {"ssh_algorithm", "upn_domain"}); !st) return st.refusal();
    if (auto st = readString(*t, "ca.", "ssh_algorithm", c.caSshAlgorithm); !st)
      return st.refusal();
    if (c.caSshAlgorithm != "ed25519" && c.caSshAlgorithm != "ecdsa-p256" &&
        c.caSshAlgorithm != "rsa-3072")
      return configError("ca.ssh_algorithm", "must be ed25519, ecdsa-p256 or rsa-3072");
    if (auto st = readString(*t, "ca.", "upn_domain", c.caUpnDomain); !st) return st.refusal();
    if (auto st = validateAddress(c.caUpnDomain, "ca.upn_domain"); !st) return st.refusal();
  }
  if (const auto* n = root.get("ssh")) {
    const auto* t = n->as_table();
    if (!t) return configError("ssh", "must be a table");
    if (auto st = checkKeys(*t, "ssh.",
                            {"listen", "login_grace_time", "max_unauthenticated", "max_per_source",
                             "warn_before", "connect_timeout"});
        !st)
      return st.refusal();
    using std::chrono::seconds;
    if (auto st = readListen(*t, "ssh.", "listen", c.ssh.listen); !st) return st.refusal();
    if (auto st = readSeconds(*t, "ssh.", "login_grace_time", c.ssh.loginGraceTime, seconds(1),
                              seconds(600));
        !st)
      return st.refusal();
    if (auto st = readInt(*t, "ssh.", "max_unauthenticated", c.ssh.maxUnauthenticated, 1, 100000);
        !st)
      return st.refusal();
    if (auto st = readInt(*t, "ssh.", "max_per_source", c.ssh.maxPerSource, 1, 100000); !st)
      return st.refusal();
    if (auto st =
            readSeconds(*t, "ssh.", "warn_before", c.ssh.warnBefore, seconds(0), seconds(86400));
        !st)
      return st.refusal();
    if (auto st = readSeconds(*t, "ssh.", "connect_timeout", c.ssh.connectTimeout, seconds(1),
                              seconds(120));
        !st)
      return st.refusal();
  }
  if (const auto* n = root.get("winrm")) {
    const auto* t = n->as_table();
    if (!t) return configError("winrm", "must be a table");
    if (auto st =
            checkKeys(*t, "winrm.",
                      {"http_listen", "https_listen", "domain", "account_domains", "tls_cert",
                       "tls_key", "upstream_ca_file", "connect_timeout", "request_timeout",
                       "response_timeout", "max_header_bytes", "max_body_bytes", "max_connections",
                       "max_per_source", "http_target_listen", "https_target_listen"});
        !st)
      return st.refusal();
    if (auto st = readListen(*t, "winrm.", "http_listen", c.winrm.httpListen); !st)
      return st.refusal();
    if (auto st = readListen(*t, "winrm.", "https_listen", c.winrm.httpsListen); !st)
      return st.refusal();
    std::set<std::string> taken;  // each listener once, the fronts' own among them
    for (const auto& front : {c.winrm.httpListen, c.winrm.httpsListen})
      if (front && front->port != 0) taken.insert(front->toString());
    for (auto [key, out] : {std::pair{"http_target_listen", &c.winrm.httpTargetListen},
                            std::pair{"https_target_listen", &c.winrm.httpsTargetListen}})
      if (auto st = readTargetListen(*t, key, *out, taken); !st) return st.refusal();
    if (auto st = readString(*t, "winrm.", "domain", c.winrm.domain); !st) return st.refusal();
    if (!c.winrm.domain.empty())
      if (auto st = validateAddress(c.winrm.domain, "winrm.domain"); !st) return st.refusal();
    if (auto st = readStrings(*t, "winrm.", "account_domains", c.winrm.accountDomains); !st)
      return st.refusal();
    for (const auto& d : c.winrm.accountDomains)
      if (d.empty() || d.size() > 253 ||
          d.find_first_not_of(
              "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-_") !=
              std::string::npos)
        return configError("winrm.account_domains",
                           "'" + printable(d, 64) +
                               "' is not a domain or realm name (1..253 of A-Z a-z 0-9 . - _)");
    using std::chrono::seconds;
    auto& w = c.winrm;
    for (auto [key, out] : {std::pair{"tls_cert", &w.tlsCert}, std::pair{"tls_key", &w.tlsKey},
                            std::pair{"upstream_ca_file", &w.upstreamCaFile}}) {
      if (auto st = readString(*t, "winrm.", key, *out); !st) return st.refusal();
      if (!out->empty() && (*out)[0] != '/')
        return configError(std::string("winrm.") + key, "must be an absolute path");
    }
    if (w.tlsCert.empty() != w.tlsKey.empty())
      return configError(w.tlsCert.empty() ? "winrm.tls_cert" : "winrm.tls_key",
                         "tls_cert and tls_key go together");
    if (auto st = readSeconds(*t, "winrm.", "connect_timeout", w.connectTimeout, seconds(1),
                              seconds(120));
        !st)
      return st.refusal();
    if (auto st = readSeconds(*t, "winrm.", "request_timeout", w.requestTimeout, seconds(1),
                              seconds(3600));
        !st)
      return st.refusal();
    if (auto st = readSeconds(*t, "winrm.", "response_timeout", w.responseTimeout, seconds(1),
                              seconds(3600));
        !st)
      return st.refusal();
    if (auto st = readInt(*t, "winrm.", "max_header_bytes", w.maxHeaderBytes, 1024, 1 << 20); !st)
      return st.refusal();
    if (auto st = readInt(*t, "winrm.", "max_body_bytes", w.maxBodyBytes, 1024, 256 << 20); !st)
      return st.refusal();
    if (auto st = readInt(*t, "winrm.", "max_connections", w.maxConnections, 1, 100000); !st)
      return st.refusal();
    if (auto st = readInt(*t, "winrm.", "max_per_source", w.maxPerSource, 1, 100000); !st)
      return st.refusal();
  }
  if (const auto* n = root.get("metrics")) {
    const auto* t = n->as_table();
    if (!t) return configError("metrics", "must be a table");
    if (auto st = checkKeys(*t, "metrics.", {"listen"}); !st) return st.refusal();
    if (auto st = readListen(*t, "metrics.", "listen", c.metrics.listen); !st) return st.refusal();
  }
  if (const auto* n = root.get("store")) {
    const auto* t = n->as_table();
    if (!t) return configError("store", "must be a table");
    if (auto st = checkKeys(*t, "store.", {"url", "grace"}); !st) return st.refusal();
    if (auto st = readString(*t, "store.", "url", c.store.url); !st) return st.refusal();
    if (!c.store.url.empty())
      if (auto st = checkPostgresUrl(c.store.url, "store.url"); !st) return st.refusal();
    if (auto st = readSeconds(*t, "store.", "grace", c.store.grace, std::chrono::seconds(0),
                              std::chrono::seconds(86400));
        !st)
      return st.refusal();
  }
  if (const auto* n = root.get("node")) {
    const auto* t = n->as_table();
    if (!t) return configError("node", "must be a table");
    if (auto st = checkKeys(*t, "node.", {"name", "lost_after"}); !st) return st.refusal();
    if (auto st = readString(*t, "node.", "name", c.node.name); !st) return st.refusal();
    if (!c.node.name.empty())
      if (auto st = validateName(c.node.name, "node.name"); !st) return st.refusal();
    if (auto st = readSeconds(*t, "node.", "lost_after", c.node.lostAfter, std::chrono::seconds(2),
                              std::chrono::seconds(86400));
        !st)
      return st.refusal();
  }
  if (const auto* n = root.get("recordings")) {
    const auto* t = n->as_table();
    if (!t) return configError("recordings", "must be a table");
    if (auto st = readRecordings(*t, c.recordings); !st) return st.refusal();
  }
  return c;
}

}  // namespace jitgate
