// The product's concepts (SPEC.md): targets, policies and their port rules,
// requests, grants, users and audit entries, with their validation.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "jitgate/net.hpp"
#include "jitgate/result.hpp"
#include "jitgate/text.hpp"
#include "jitgate/timefmt.hpp"

namespace jitgate {

enum class TargetOs { Linux, Windows };
std::string_view toString(TargetOs os);
Result<TargetOs> parseTargetOs(std::string_view s);

struct Target {
  std::string name;
  std::string address;  // host name or IP literal, as the bastion dials it
  TargetOs os = TargetOs::Linux;
  uint16_t sshPort = 22;
  uint16_t winrmHttpPort = 5985;
  uint16_t winrmHttpsPort = 5986;
  SysTime createdAt{};
};

inline constexpr Seconds kMinMaxDuration{5 * 60};        // PT5M
inline constexpr Seconds kMaxMaxDuration{24 * 3600};     // P1D
inline constexpr Seconds kDefaultMaxDuration{3 * 3600};  // PT3H

struct PortRule {
  uint16_t number = 0;
  std::string protocol = "tcp";
  std::vector<Cidr> allowedSources;  // never empty; Cidr::any() for "*"
  Seconds maxDuration = kDefaultMaxDuration;

  bool allowsSource(const Cidr& source) const;
};

// The widest source a requester may ask for, per family: with /1 allowed,
// two requests (0.0.0.0/1 and 128.0.0.0/1) would add up to all of IPv4.
// /24 and /64 hold a site's NAT pool or one IPv6 subnet; "my IP" is a /32.
inline constexpr int kDefaultMinRequestPrefixV4 = 24;
inline constexpr int kDefaultMinRequestPrefixV6 = 64;

struct Policy {
  std::string target;
  std::vector<PortRule> ports;  // sorted by number, unique
  bool requireApproval = false;
  // Requests (not admins' grants) must ask for a prefix at least this long.
  int minRequestPrefixV4 = kDefaultMinRequestPrefixV4;  // 0..32
  int minRequestPrefixV6 = kDefaultMinRequestPrefixV6;  // 0..128
  SysTime updatedAt{};
  std::string updatedBy;

  const PortRule* rule(uint16_t port) const;
};

// The policy a target gets when enabled with no options.
Policy defaultPolicy(const Target& target);

enum class GrantState { Active, Expired, Revoked };
std::string_view toString(GrantState s);
Result<GrantState> parseGrantState(std::string_view s);

struct Grant {
  std::string id;
  std::string user;
  std::string target;
  uint16_t port = 0;
  Cidr source;
  SysTime start{};
  SysTime end{};  // exclusive
  std::string requestedBy;
  std::string approvedBy;
  std::string justification;
  std::string requestId;  // empty for direct admin grants
  GrantState state = GrantState::Active;
  std::optional<SysTime> revokedAt;
  std::string revokedBy;

  bool coversTime(SysTime now) const { return start <= now && now < end; }
};

enum class RequestState { Pending, Approved, Denied };
std::string_view toString(RequestState s);
Result<RequestState> parseRequestState(std::string_view s);

struct RequestedPort {
  uint16_t number = 0;
  Cidr source;
  std::optional<Seconds> duration;  // exactly one of duration and endTime
  std::optional<SysTime> endTime;
};

struct AccessRequest {
  std::string id;
  std::string requester;
  std::string target;
  std::vector<RequestedPort> ports;
  std::string justification;
  RequestState state = RequestState::Pending;
  SysTime createdAt{};
  std::string decidedBy;
  std::optional<SysTime> decidedAt;
  std::string reason;                 // why denied
  std::vector<std::string> grantIds;  // grants made on approval
};

struct SshPublicKey {
  std::string type;    // ssh-ed25519, ecdsa-sha2-nistp256, ...
  std::string base64;  // the key blob
  std::string comment;
  std::string fingerprint;  // SHA256:... as ssh-keygen -l prints it

  std::string line() const;
};
// One authorized_keys-style line: "TYPE BASE64 [COMMENT]". The blob must
// decode and name the same type; only plain (non-certificate) key types that
// the bastion accepts are taken.
Result<SshPublicKey> parseSshPublicKey(std::string_view line, std::string_view field = "key");

struct User {
  std::string name;
  std::vector<SshPublicKey> keys;
  SysTime createdAt{};
};

// Names: 1..64 of [A-Za-z0-9._-], not starting with '-' or '.'. The same rule
// serves logins (so that "user@target@bastion" splits unambiguously) and
// target names (so that they fit in a URL path segment and a host label).
Status validateName(std::string_view name, std::string_view field);
// Host names (RFC 1123 labels) or IP literals.
Status validateAddress(std::string_view address, std::string_view field);

// A certificate the CA issued for a grant (docs/CERTIFICATES.md).
struct IssuedCertificate {
  uint64_t serial = 0;
  std::string kind;  // ssh | x509
  std::string grantId;
  std::string user;
  std::string keyId;
  int64_t caKeyId = 0;
  SysTime validAfter{};
  SysTime validBefore{};
  SysTime issuedAt{};
  std::string issuedBy;
  std::string subjectFingerprint;  // of the certified key
};

// One of the CA's signing keys; the private half is a file in the state dir.
struct CaKeyRecord {
  int64_t id = 0;
  std::string kind;       // ssh | x509
  std::string algorithm;  // ed25519, ecdsa-p256, rsa-3072
  std::string publicKey;  // an authorized_keys line, or the CA certificate PEM
  std::string file;       // private key file name in <state_dir>/ca
  SysTime createdAt{};
  std::optional<SysTime> retiredAt;
};

struct AuditEntry {
  int64_t seq = 0;
  std::chrono::sys_time<std::chrono::milliseconds> time{};
  std::string actor;    // who did it (Unix user, or "jitgated" for the daemon itself)
  std::string action;   // e.g. grant.create, request.deny, session.connect
  std::string outcome;  // ok | denied | error
  std::string target;
  std::optional<uint16_t> port;
  std::string source;
  std::string user;  // the user the entry is about (grant holder, requester)
  std::string grantId;
  std::string requestId;
  std::string detail;   // free text: the reason for refusals, what changed
  std::string node;     // the node that wrote it ([node] name); the store fills it in
  std::string session;  // the session it concerns (s-...), for session.* entries
};

// A jitgated sharing the store, as it registered itself (docs/SCALE_OUT.md).
enum class NodeState { Up, Lost };
std::string_view toString(NodeState s);
Result<NodeState> parseNodeState(std::string_view s);

struct NodeRecord {
  std::string name;                    // [node] name, unique in the cluster
  std::vector<std::string> addresses;  // its fronts' listen addresses ("ssh 0.0.0.0:22")
  std::string version;
  SysTime startedAt{};
  std::chrono::sys_time<std::chrono::milliseconds> heartbeatAt{};  // its own clock
  NodeState state = NodeState::Up;
  std::optional<SysTime> lostAt;  // when another node marked it lost
  std::string lostBy;             // the node that did
};

}  // namespace jitgate
