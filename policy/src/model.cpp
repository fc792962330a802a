// Validation of the product's concepts: targets, policies, port rules,
// requests and grants.
#include "jitgate/model.hpp"

#include <arpa/inet.h>

#include <algorithm>

#include "jitgate/ssh_key.hpp"
#include "jitgate/ssh_wire.hpp"

namespace jitgate {

std::string_view toString(TargetOs os) { return os == TargetOs::Linux ? "linux" : "windows"; }

Result<TargetOs> parseTargetOs(std::string_view s) {
  if (s == "linux") return TargetOs::Linux;
  if (s == "windows") return TargetOs::Windows;
  return invalid("os", "must be 'linux' or 'windows'");
}

std::string_view toString(GrantState s) {
  switch (s) {
    case GrantState::Active:
      return "active";
    case GrantState::Expired:
      return "expired";
    case GrantState::Revoked:
      return "revoked";
  }
  return "unknown";
}

Result<GrantState> parseGrantState(std::string_view s) {
  if (s == "active") return GrantState::Active;
  if (s == "expired") return GrantState::Expired;
  if (s == "revoked") return GrantState::Revoked;
  return invalid("state", "unknown grant state");
}

std::string_view toString(NodeState s) { return s == NodeState::Up ? "up" : "lost"; }

Result<NodeState> parseNodeState(std::string_view s) {
  if (s == "up") return NodeState::Up;
  if (s == "lost") return NodeState::Lost;
  return invalid("state", "unknown node state");
}

std::string_view toString(RequestState s) {
  switch (s) {
    case RequestState::Pending:
      return "pending";
    case RequestState::Approved:
      return "approved";
    case RequestState::Denied:
      return "denied";
  }
  return "unknown";
}

Result<RequestState> parseRequestState(std::string_view s) {
  if (s == "pending") return RequestState::Pending;
  if (s == "approved") return RequestState::Approved;
  if (s == "denied") return RequestState::Denied;
  return invalid("state", "unknown request state");
}

bool PortRule::allowsSource(const Cidr& source) const {
  return std::any_of(allowedSources.begin(), allowedSources.end(),
                     [&](const Cidr& allowed) { return source.within(allowed); });
}

const PortRule* Policy::rule(uint16_t port) const {
  for (const auto& r : ports)
    if (r.number == port) return &r;
  return nullptr;
}

Policy defaultPolicy(const Target& target) {
  Policy p;
  p.target = target.name;
  PortRule r;
  // Grants are for the port the service really listens on (SPEC: a target
  // whose sshd listens on 2222 needs a grant for 2222).
  r.number = target.os == TargetOs::Linux ? target.sshPort : 3389;
  r.allowedSources = {Cidr::any()};
  r.maxDuration = kDefaultMaxDuration;
  p.ports.push_back(r);
  return p;
}

Status validateName(std::string_view name, std::string_view field) {
  if (name.empty()) return invalid(std::string(field), "must not be empty");
  if (name.size() > 64) return invalid(std::string(field), "longer than 64 characters");
  if (name[0] == '-' || name[0] == '.')
    return invalid(std::string(field), "must not start with '-' or '.'");
  for (unsigned char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) return invalid(std::string(field), "may hold only letters, digits, '.', '_' and '-'");
  }
  return okStatus();
}

Status validateAddress(std::string_view address, std::string_view field) {
  if (address.empty()) return invalid(std::string(field), "must not be empty");
  if (address.size() > 253) return invalid(std::string(field), "longer than 253 characters");
  if (IpAddress::parse(address)) return okStatus();
  // Resolvers read "127.1", "010.0.0.1" or "0x7f000001" as IPv4 in legacy
  // forms: what the admin sees would not be what is dialled.
  in_addr legacy{};
  if (inet_aton(std::string(address).c_str(), &legacy) != 0)
    return invalid(std::string(field), "'" + std::string(address) +
                                           "' is a legacy numeric IPv4 form; write the address "
                                           "as a.b.c.d");
  // RFC 1123 host name: dot-separated labels of 1..63 [A-Za-z0-9-], no
  // leading or trailing '-'.
  size_t start = 0;
  while (true) {
    size_t dot = address.find('.', start);
    auto label = address.substr(start, dot == std::string_view::npos ? address.npos : dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-')
      return invalid(std::string(field),
                     "'" + std::string(address) + "' is not a host name or IP address");
    for (unsigned char c : label) {
      bool ok =
          (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
      if (!ok)
        return invalid(std::string(field),
                       "'" + std::string(address) + "' is not a host name or IP address");
    }
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return okStatus();
}

std::string SshPublicKey::line() const {
  std::string s = type + " " + base64;
  if (!comment.empty()) s += " " + comment;
  return s;
}

Result<SshPublicKey> parseSshPublicKey(std::string_view line, std::string_view field) {
  static constexpr std::string_view kTypes[] = {"ssh-ed25519",
                                                "ecdsa-sha2-nistp256",
                                                "ecdsa-sha2-nistp384",
                                                "ecdsa-sha2-nistp521",
                                                "ssh-rsa",
                                                "sk-ssh-ed25519@openssh.com",
                                                "sk-ecdsa-sha2-nistp256@openssh.com"};
  auto f = std::string(field);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  if (line.size() > 16384) return invalid(f, "longer than 16 KiB");
  if (line.find_first_of("\n\r") != line.npos)
    return invalid(f, "one key per line: the text holds several lines");
  auto sp = line.find(' ');
  if (sp == line.npos) return invalid(f, "expected 'TYPE BASE64 [COMMENT]'");
  SshPublicKey k;
  k.type = std::string(line.substr(0, sp));
  auto rest = line.substr(sp + 1);
  auto sp2 = rest.find(' ');
  k.base64 = std::string(rest.substr(0, sp2));
  if (sp2 != rest.npos) k.comment = std::string(rest.substr(sp2 + 1));
  if (std::find(std::begin(kTypes), std::end(kTypes), k.type) == std::end(kTypes))
    return invalid(f, "unsupported key type '" + k.type.substr(0, 64) + "'");
  if (auto st = validateText(k.comment, f + ".comment", 1024, false); !st) return st.refusal();
  std::string blob;
  if (!base64Decode(k.base64, blob)) return invalid(f, "key data is not base64");
  // The blob is a sequence of SSH strings (RFC 4253 6.6): the type, then
  // the key's own fields. Each must be whole and nothing may follow.
  SshReader r(blob);
  std::string_view type;
  if (blob.size() < 4) return invalid(f, "key data is truncated");
  if (!r.string(type) || type != k.type)
    return invalid(f, "key data does not match its type '" + k.type + "'");
  size_t fields = 0;
  if (k.type == "ssh-ed25519")
    fields = 1;  // pk
  else if (k.type.rfind("ecdsa-sha2-", 0) == 0)
    fields = 2;  // curve, Q
  else if (k.type == "ssh-rsa")
    fields = 2;  // e, n
  else if (k.type == "sk-ssh-ed25519@openssh.com")
    fields = 2;  // pk, application
  else if (k.type == "sk-ecdsa-sha2-nistp256@openssh.com")
    fields = 3;  // curve, Q, application
  std::string_view first;
  for (size_t n = 0; n < fields; ++n) {
    std::string_view field;
    if (!r.string(field) || field.empty()) return invalid(f, "key data is truncated");
    if (n == 0) first = field;
  }
  if (!r.empty()) return invalid(f, "key data has trailing bytes");
  if ((k.type == "ssh-ed25519" || k.type == "sk-ssh-ed25519@openssh.com") && first.size() != 32)
    return invalid(f, "an Ed25519 key is 32 bytes");
  k.fingerprint = sshFingerprint(blob);
  return k;
}

}  // namespace jitgate
