// jitgated's configuration: a TOML file (every key documented in README.md),
// then command-line flags on top. No file gives a working daemon.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "jitgate/recording/recording_store.hpp"
#include "jitgate/result.hpp"
#include "jitgate/roles.hpp"

namespace jitgate {

// Where a front listens. Port 0 picks a free port (logged when ready).
struct ListenAddress {
  std::string host;  // an IP literal
  uint16_t port = 0;
  std::string toString() const;  // "127.0.0.1:2222", "[::1]:2222"
};
// "ADDR:PORT" or "[V6]:PORT"; "off" disables the front (nullopt).
Result<std::optional<ListenAddress>> parseListenAddress(const std::string& text,
                                                        const std::string& field);

struct SshFrontConfig {
  std::optional<ListenAddress> listen = ListenAddress{"0.0.0.0", 2222};
  std::chrono::seconds loginGraceTime{30};  // to finish key exchange and authentication
  int maxUnauthenticated = 64;              // connections not yet authenticated, in all
  int maxPerSource = 16;                    // unauthenticated connections per source address
  std::chrono::seconds warnBefore{300};     // warning to live sessions before their window ends
  std::chrono::seconds connectTimeout{10};  // the bastion's own hop to a target
};

// A listener of the WinRM front that serves one target (docs/WINRM.md, "A
// port per target"): for clients that cannot name the target in the path or
// the Host, such as pywinrm's Session, which sends every request to /wsman.
struct WinrmTargetListen {
  std::string target;  // a target name
  ListenAddress listen;
};

struct WinrmFrontConfig {
  std::optional<ListenAddress> httpListen = ListenAddress{"0.0.0.0", 5985};
  std::optional<ListenAddress> httpsListen = ListenAddress{"0.0.0.0", 5986};
  std::string domain;  // targets may be named by Host "<target>.<domain>"
  // Windows domains and Kerberos realms whose accounts may ride a grant of
  // their bare user name ("CORP", "corp.example.com"); empty: bare names only.
  std::vector<std::string> accountDomains;
  // The HTTPS front's own certificate and key (PEM); both empty: generated on
  // first start under <state_dir>/winrm (docs/WINRM.md).
  std::string tlsCert;
  std::string tlsKey;
  // [winrm.http_target_listen] / [winrm.https_target_listen]: TARGET = "ADDR:PORT".
  std::vector<WinrmTargetListen> httpTargetListen;
  std::vector<WinrmTargetListen> httpsTargetListen;
  // CA certificates (PEM) that targets' WinRM HTTPS certificates must chain
  // to; empty: the system's trust store. Never unverified.
  std::string upstreamCaFile;
  std::chrono::seconds connectTimeout{10};    // TCP and TLS to a target, TLS from a client
  std::chrono::seconds requestTimeout{60};    // to receive a client's next request
  std::chrono::seconds responseTimeout{300};  // for a target's answer (long-poll Receive)
  int maxHeaderBytes = 16 * 1024;             // request and response header blocks
  int maxBodyBytes = 4 * 1024 * 1024;         // request and response bodies
  int maxConnections = 512;                   // client connections per front
  int maxPerSource = 32;                      // of those, from one client address
};

// The Prometheus endpoint (GET /metrics). Loopback by default: the figures
// name no users, but they tell who is busy and when.
struct MetricsConfig {
  std::optional<ListenAddress> listen = ListenAddress{"127.0.0.1", 9620};
};

// Where the store is: empty url = SQLite in the state directory; else a
// PostgreSQL connection string (docs/STORE.md).
struct StoreConfig {
  std::string url;
  std::chrono::seconds grace{60};  // store_grace: live sessions outlast an unreachable store
};

// [node]: this jitgated among those sharing the store (docs/SCALE_OUT.md).
struct NodeConfig {
  std::string name;                    // empty: the host name
  std::chrono::seconds lostAfter{30};  // silent this long: marked lost by another node
};

// Control-socket connections open at once (see ControlSocketOptions).
struct ControlConfig {
  int maxConnections = 64;
  int maxConnectionsPerUid = 8;  // for a caller who is not an admin
  int adminReserve = 8;          // of max_connections, kept for admins
};

// [recordings]: terminating SSH sessions as asciicast v2 files
// (docs/RECORDINGS.md), under state_dir/recordings.
// record = "off" | "output" | "all", max_size, budget, retention, when_full.
// (RecordingSettings, recording_store.hpp, holds the defaults.)

struct DaemonConfig {
  std::string stateDir = "/var/lib/jitgate";
  std::string controlSocket = "/run/jitgate/control.sock";
  std::string controlSocketGroup;  // empty: the daemon's own group
  std::string logLevel = "info";
  RoleConfig roles;
  ControlConfig control;
  // Certificate authority.
  std::string caSshAlgorithm = "ed25519";  // ed25519, ecdsa-p256, rsa-3072 (for a new key)
  std::string caUpnDomain = "jitgate";     // UPN SAN domain of X.509 client certificates
  SshFrontConfig ssh;
  WinrmFrontConfig winrm;
  MetricsConfig metrics;
  StoreConfig store;
  NodeConfig node;
  RecordingSettings recordings;
};

// Reads a TOML file. Unknown keys and wrong types are refused (a typo in a
// security setting must not silently fall back to a default).
Result<DaemonConfig> loadConfig(const std::string& path);

}  // namespace jitgate
