// The SSH front's listener and public API: the host key, the bind options,
// accepting with the pre-authentication limits, and stopping. Each accepted
// connection is an SshConnection (ssh_connection.hpp). See docs/SSH.md and
// docs/ARCHITECTURE.md.
#include "jitgate/proxy/ssh_front.hpp"

#include <libssh/libssh.h>
#include <libssh/server.h>
#include <openssl/crypto.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "jitgate/files.hpp"
#include "jitgate/proxy/listen.hpp"
#include "jitgate/ssh_key.hpp"
#include "ssh_auth.hpp"
#include "ssh_connection.hpp"
#include "ssh_front_state.hpp"

namespace jitgate {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// What a hardened OpenSSH offers, within what libssh 0.10 has (docs/SSH.md,
// "Algorithms"; ssh-audit checks it in tests/audit/ssh_audit_test.sh).
//
// libssh 0.10's chacha20-poly1305 breaks the connection at the first rekey
// (OpenSSH clients rekey after 1 GiB: "Bad packet length", found with
// tests/bench/ssh_bench.sh); AES-GCM and AES-CTR rekey cleanly, so those are
// offered. A client takes the first of its own preferences that the server
// has: OpenSSH lists AES-CTR before AES-GCM (which costs this relay about
// 45 % more CPU per byte), and paramiko (Ansible's fallback) has only CTR.
constexpr const char* kFrontCiphers =
    "aes256-gcm@openssh.com,aes128-gcm@openssh.com,aes256-ctr,aes128-ctr";
// No NIST ECDH curves, no 2048-bit groups, no group exchange (libssh's server
// would serve 2048-bit moduli); sntrup761x25519 needs libssh 0.11. libssh
// adds the strict-kex marker (kex-strict-s-v00@openssh.com) itself.
constexpr const char* kFrontKex =
    "curve25519-sha256,curve25519-sha256@libssh.org,diffie-hellman-group16-sha512,"
    "diffie-hellman-group18-sha512";
// Encrypt-then-MAC only (the MAC of a CTR cipher; GCM carries its own).
constexpr const char* kFrontMacs = "hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com";
// The host key is Ed25519 (loadOrCreateHostKey).
constexpr const char* kFrontHostKeys = "ssh-ed25519";

}  // namespace

void SshFront::Shared::accept() {
  acceptor.async_accept(
      [self = shared_from_this()](const boost::system::error_code& ec, tcp::socket socket) {
        if (self->stopping || ec == asio::error::operation_aborted) return;
        if (!ec)
          self->onAccept(std::move(socket));
        else
          spdlog::warn("ssh: accept: {}", ec.message());
        self->accept();
      });
}

void SshFront::Shared::onAccept(tcp::socket socket) {
  boost::system::error_code ec;
  auto remote = socket.remote_endpoint(ec);
  if (ec) return;
  auto ip = IpAddress::parse(remote.address().to_string());
  if (!ip) return;
  std::string source = ip->toString();
  std::string why;
  if (unauthenticated >= static_cast<size_t>(options.maxUnauthenticated))
    why = "too many unauthenticated connections (max_unauthenticated " +
          std::to_string(options.maxUnauthenticated) + ")";
  else if (unauthenticatedBySource[source] >= options.maxPerSource)
    why = "too many unauthenticated connections from " + source + " (max_per_source " +
          std::to_string(options.maxPerSource) + ")";
  if (!why.empty()) {
    if (unauthenticatedBySource[source] == 0) unauthenticatedBySource.erase(source);
    recordPreAuth(
        refusalEntry("ssh", "", "", std::nullopt, source, SessionRefusal::ConnectionLimit, why));
    socket.close(ec);
    return;
  }
  ++unauthenticated;
  ++unauthenticatedBySource[source];
  auto conn = SshConnection::create(shared_from_this(), source, *ip);
  connections.emplace(conn.get(), conn);
  conn->start(std::move(socket));
}

// --- SshFront -------------------------------------------------------------------

namespace {

Status loadOrCreateHostKey(const std::string& path, std::string& fingerprint) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno != ENOENT) return invalid("ssh host key", path + ": " + std::strerror(errno));
    ssh_key key = nullptr;
    if (ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &key) != SSH_OK || !key)
      return invalid("ssh host key", "cannot generate an Ed25519 key");
    SshKeyPtr owned(key);
    char* b64 = nullptr;
    if (ssh_pki_export_privkey_base64(key, nullptr, nullptr, nullptr, &b64) != SSH_OK || !b64)
      return invalid("ssh host key", "cannot export the new key");
    std::string pem(b64);
    OPENSSL_cleanse(b64, pem.size());
    ssh_string_free_char(b64);
    auto written = writeFileAtomically(path, pem, 0600);
    OPENSSL_cleanse(pem.data(), pem.size());
    if (!written) return written;
    spdlog::info("ssh: made host key {}", path);
  } else {
    if (!S_ISREG(st.st_mode)) return invalid("ssh host key", path + " is not a regular file");
    if (st.st_uid != ::geteuid())
      return invalid("ssh host key", path + " is owned by another user");
    if (st.st_mode & (S_IRWXG | S_IRWXO))
      return invalid("ssh host key", path + " must not be readable by group or others (chmod 600)");
  }
  ssh_key key = nullptr;
  if (ssh_pki_import_privkey_file(path.c_str(), nullptr, nullptr, nullptr, &key) != SSH_OK || !key)
    return invalid("ssh host key", path + " is not a readable private key");
  SshKeyPtr owned(key);
  auto blob = keyBlob(key);
  if (!blob) return blob.refusal();
  fingerprint = sshFingerprint(*blob);
  return okStatus();
}

}  // namespace

Result<std::unique_ptr<SshFront>> SshFront::open(asio::io_context& io, GrantEngine& engine,
                                                 CertificateAuthority& authority,
                                                 SessionRegistry& registry,
                                                 SshFrontOptions options) {
  auto shared = std::make_shared<Shared>(io, engine, authority, registry, options);
  shared->listener_ = engine.subscribe([weak = std::weak_ptr<Shared>(shared)](const GrantEnded&) {
    if (auto s = weak.lock()) s->identities.markStale();
  });
  std::string hostKey = options.stateDir + "/ssh_host_ed25519_key";
  if (auto st = loadOrCreateHostKey(hostKey, shared->hostKeyFingerprint); !st) return st.refusal();
  shared->bind.reset(ssh_bind_new());
  if (!shared->bind) return invalid("ssh", "out of memory");
  std::string banner = std::string("jitgate_") + JITGATE_VERSION;
  int logLevel = SSH_LOG_NOLOG;
  if (ssh_bind_options_set(shared->bind.get(), SSH_BIND_OPTIONS_HOSTKEY, hostKey.c_str()) !=
          SSH_OK ||
      ssh_bind_options_set(shared->bind.get(), SSH_BIND_OPTIONS_BANNER, banner.c_str()) != SSH_OK ||
      ssh_bind_options_set(shared->bind.get(), SSH_BIND_OPTIONS_LOG_VERBOSITY, &logLevel) !=
          SSH_OK ||
      ssh_bind_options_set(shared->bind.get(), SSH_BIND_OPTIONS_CIPHERS_C_S, kFrontCiphers) !=
          SSH_OK ||
      ssh_bind_options_set(shared->bind.get(), SSH_BIND_OPTIONS_CIPHERS_S_C, kFrontCiphers) !=
          SSH_OK ||
      ssh_bind_options_set(shared->bind.get(), SSH_BIND_OPTIONS_KEY_EXCHANGE, kFrontKex) !=
          SSH_OK ||
      ssh_bind_options_set(shared->bind.get(), SSH_BIND_OPTIONS_HMAC_C_S, kFrontMacs) != SSH_OK ||
      ssh_bind_options_set(shared->bind.get(), SSH_BIND_OPTIONS_HMAC_S_C, kFrontMacs) != SSH_OK ||
      ssh_bind_options_set(shared->bind.get(), SSH_BIND_OPTIONS_HOSTKEY_ALGORITHMS,
                           kFrontHostKeys) != SSH_OK)
    return invalid("ssh", std::string("libssh: ") + ssh_get_error(shared->bind.get()));

  if (auto st = listenOn(shared->acceptor, options.listen, "ssh.listen"); !st) return st.refusal();
  return std::unique_ptr<SshFront>(new SshFront(std::move(shared)));
}

SshFront::SshFront(std::shared_ptr<Shared> shared) : shared_(std::move(shared)) {}

SshFront::~SshFront() {
  stop();
  shared_->engine.unsubscribe(shared_->listener_);
}

tcp::endpoint SshFront::localEndpoint() const {
  boost::system::error_code ec;
  return shared_->acceptor.local_endpoint(ec);
}

std::string SshFront::hostKeyFingerprint() const { return shared_->hostKeyFingerprint; }

void SshFront::start() { shared_->accept(); }

void SshFront::stop() {
  if (shared_->stopping) return;
  shared_->stopping = true;
  boost::system::error_code ec;
  shared_->acceptor.close(ec);
  std::vector<std::shared_ptr<SshConnection>> live;
  for (auto& [raw, weak] : shared_->connections)
    if (auto c = weak.lock()) live.push_back(std::move(c));
  for (auto& c : live) c->shutdown(EndReason::Shutdown);
  shared_->connections.clear();
  shared_->flushAudit();
}

SshFrontStats SshFront::stats() const {
  return {shared_->connections.size(), shared_->unauthenticated};
}

}  // namespace jitgate
