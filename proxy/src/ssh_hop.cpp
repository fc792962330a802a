// The bastion's SSH hop to a target (ssh_hop.hpp).
#include "ssh_hop.hpp"

#include <libssh/libssh.h>
#include <spdlog/spdlog.h>

#include <boost/asio/connect.hpp>

#include "jitgate/net.hpp"
#include "jitgate/ssh_key.hpp"
#include "jitgate/text.hpp"
#include "jitgate/unique_fd.hpp"
#include "ssh_auth.hpp"

namespace jitgate {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

// The client side of the front's choice (kFrontCiphers and the rest in
// ssh_front.cpp), open to what Debian 12's OpenSSH (9.2) targets offer:
// libssh 0.10's chacha20-poly1305 breaks the connection at the first rekey,
// so AES-GCM and AES-CTR only; no NIST ECDH curves, no 2048-bit groups;
// encrypt-then-MAC only. Group exchange stays for targets older than OpenSSH
// 7.3 (no group16/18; OpenSSH 6.5+ picks curve25519 before it). Host keys:
// Ed25519 and RSA-SHA2, not ECDSA (NIST curves; OpenSSH makes an Ed25519 host
// key by default since 6.5, and libssh preferred it, so known_hosts has it).
constexpr const char* kHopCiphers =
    "aes256-gcm@openssh.com,aes128-gcm@openssh.com,aes256-ctr,aes128-ctr";
constexpr const char* kHopKex =
    "curve25519-sha256,curve25519-sha256@libssh.org,diffie-hellman-group16-sha512,"
    "diffie-hellman-group18-sha512,diffie-hellman-group-exchange-sha256";
constexpr const char* kHopMacs = "hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com";
constexpr const char* kHopHostKeys = "ssh-ed25519,rsa-sha2-512,rsa-sha2-256";

}  // namespace

SshHop::SshHop(asio::io_context& io, CertificateAuthority& authority, Params params, Events events)
    : authority_(authority),
      params_(std::move(params)),
      events_(std::move(events)),
      socket_(io),
      resolver_(io),
      timer_(io),
      watch_(io) {}

void SshHop::start() {
  // Shared with the pending resolve and connect: Asio's composed connect
  // keeps using the socket until its handler has run.
  auto self = shared_from_this();
  timer_.expires_after(params_.connectTimeout);
  timer_.async_wait([self](const boost::system::error_code& ec) {
    if (ec || self->state_ == State::Ready || self->state_ == State::Failed) return;
    self->fail(SessionRefusal::TargetUnreachable, "timed out connecting to the target");
  });
  resolver_.async_resolve(
      params_.address, std::to_string(params_.port),
      [self](const boost::system::error_code& ec, tcp::resolver::results_type results) {
        if (self->state_ == State::Failed) return;
        if (ec)
          return self->fail(SessionRefusal::TargetUnreachable,
                            "cannot resolve the target: " + ec.message());
        asio::async_connect(self->socket_, results,
                            [self](const boost::system::error_code& ec, const tcp::endpoint&) {
                              if (self->state_ == State::Failed) return;
                              if (ec)
                                return self->fail(SessionRefusal::TargetUnreachable,
                                                  "cannot connect to the target: " + ec.message());
                              self->connected();
                            });
      });
}

void SshHop::connected() {
  boost::system::error_code ec;
  socket_.set_option(tcp::no_delay(true), ec);
  auto local = socket_.local_endpoint(ec);
  if (ec) return fail(SessionRefusal::TargetUnreachable, "connection lost: " + ec.message());
  auto bastionIp = IpAddress::parse(local.address().to_string());
  if (!bastionIp)
    return fail(SessionRefusal::InternalError, "cannot read the bastion's own address");
  ssh_key raw = nullptr;
  if (ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &raw) != SSH_OK || !raw)
    return fail(SessionRefusal::InternalError, "cannot make a session key");
  key_.reset(raw);
  auto blob = keyBlob(raw);
  if (!blob) return fail(SessionRefusal::InternalError, "cannot read the session key");
  auto issued =
      authority_.issueHop(params_.grantId, params_.user, *bastionIp, *blob, sshFingerprint(*blob));
  if (!issued) return fail(SessionRefusal::CertificateRefused, issued.refusal().message);
  auto sp1 = issued->line.find(' ');
  auto sp2 = issued->line.find(' ', sp1 + 1);
  std::string certB64 = issued->line.substr(sp1 + 1, sp2 - sp1 - 1);
  ssh_key cert = nullptr;
  if (ssh_pki_import_cert_base64(certB64.c_str(), SSH_KEYTYPE_ED25519_CERT01, &cert) != SSH_OK)
    return fail(SessionRefusal::InternalError, "cannot load the session certificate");
  SshKeyPtr certOwned(cert);
  if (ssh_pki_copy_cert_to_privkey(cert, raw) != SSH_OK)
    return fail(SessionRefusal::InternalError, "cannot attach the session certificate");

  session_.reset(ssh_new());
  if (!session_) return fail(SessionRefusal::InternalError, "out of memory");
  ssh_session s = session_.get();
  int zero = 0;
  long timeout = static_cast<long>(params_.connectTimeout.count());
  unsigned port = params_.port;
  struct Option {
    enum ssh_options_e option;
    const void* value;
    const char* name;
  } options[] = {
      {SSH_OPTIONS_PROCESS_CONFIG, &zero, "process_config"},
      {SSH_OPTIONS_HOST, params_.address.c_str(), "host"},
      {SSH_OPTIONS_PORT, &port, "port"},
      {SSH_OPTIONS_USER, params_.user.c_str(), "user"},
      {SSH_OPTIONS_KNOWNHOSTS, params_.knownHosts.c_str(), "knownhosts"},
      {SSH_OPTIONS_GLOBAL_KNOWNHOSTS, params_.knownHosts.c_str(), "global_knownhosts"},
      {SSH_OPTIONS_TIMEOUT, &timeout, "timeout"},
      {SSH_OPTIONS_CIPHERS_C_S, kHopCiphers, "ciphers_c_s"},
      {SSH_OPTIONS_CIPHERS_S_C, kHopCiphers, "ciphers_s_c"},
      {SSH_OPTIONS_KEY_EXCHANGE, kHopKex, "key_exchange"},
      {SSH_OPTIONS_HMAC_C_S, kHopMacs, "hmac_c_s"},
      {SSH_OPTIONS_HMAC_S_C, kHopMacs, "hmac_s_c"},
      {SSH_OPTIONS_HOSTKEYS, kHopHostKeys, "hostkeys"},
  };
  for (const auto& o : options)
    if (ssh_options_set(s, o.option, o.value) != SSH_OK)
      return fail(SessionRefusal::InternalError,
                  std::string("libssh option ") + o.name + ": " + printable(ssh_get_error(s), 200));
  UniqueFd fd(socket_.release());
  if (auto st = watch_.watch(fd.get()); !st)
    return fail(SessionRefusal::InternalError, st.refusal().message);
  int raw_fd = fd.get();
  if (ssh_options_set(s, SSH_OPTIONS_FD, &raw_fd) != SSH_OK)
    return fail(SessionRefusal::InternalError,
                "libssh option fd: " + printable(ssh_get_error(s), 200));
  fd.release();  // libssh's now
  ssh_set_blocking(s, 0);
  state_ = State::Handshake;
  if (events_.wake) events_.wake();
}

void SshHop::progress() {
  if (!session_ || !settling()) return;
  ssh_session s = session_.get();
  if (state_ == State::Handshake) {
    int rc = ssh_connect(s);
    if (rc == SSH_AGAIN) return;
    if (rc != SSH_OK)
      return fail(
          SessionRefusal::TargetUnreachable,
          std::string("SSH handshake with the target failed: ") + printable(ssh_get_error(s), 200));
    switch (ssh_session_is_known_server(s)) {
      case SSH_KNOWN_HOSTS_OK:
        break;
      case SSH_KNOWN_HOSTS_NOT_FOUND:
      case SSH_KNOWN_HOSTS_UNKNOWN: {
        // Trust on first use, recorded: an admin can pre-seed known_hosts.
        if (ssh_session_update_known_hosts(s) != SSH_OK)
          return fail(SessionRefusal::InternalError, "cannot record the target's host key");
        AuditEntry e;
        e.actor = "jitgated";
        e.action = "target.hostkey";
        e.outcome = "ok";
        e.target = params_.target;
        e.port = params_.port;
        e.detail = "host key learned on first connection: " + hostKeyFingerprint(s);
        if (events_.record) events_.record(std::move(e));
        break;
      }
      default:
        return fail(SessionRefusal::TargetHostkeyMismatch,
                    "the target's host key " + hostKeyFingerprint(s) +
                        " does not match the one recorded in " + params_.knownHosts);
    }
    state_ = State::Auth;
  }
  if (state_ == State::Auth) {
    int rc = ssh_userauth_publickey(s, nullptr, key_.get());
    if (rc == SSH_AUTH_AGAIN) return;
    if (rc != SSH_AUTH_SUCCESS)
      return fail(SessionRefusal::TargetRefusedCertificate,
                  "the target did not accept the bastion's certificate for " + params_.user +
                      " (does its sshd trust jitgate's CA and know the user?)");
    timer_.cancel();
    state_ = State::Ready;
    if (events_.ready) events_.ready();
  }
}

std::string SshHop::hostKeyFingerprint(ssh_session s) {
  ssh_key key = nullptr;
  if (ssh_get_server_publickey(s, &key) != SSH_OK || !key) return "(unknown)";
  SshKeyPtr owned(key);
  auto blob = keyBlob(key);
  return blob ? sshFingerprint(*blob) : "(unknown)";
}

void SshHop::fail(SessionRefusal reason, const std::string& message) {
  if (state_ == State::Failed) return;
  state_ = State::Failed;
  timer_.cancel();
  if (closed_ || !events_.failed) return;
  auto failed = events_.failed;  // the owner may let go of this hop in there
  failed(reason, message);
}

void SshHop::close() {
  closed_ = true;
  state_ = State::Failed;
  timer_.cancel();
  resolver_.cancel();
  boost::system::error_code ec;
  socket_.close(ec);
  watch_.close();
  if (session_) {
    ssh_session_set_disconnect_message(session_.get(), "jitgate: session ended");
    ssh_set_fd_towrite(session_.get());
    ssh_disconnect(session_.get());
  }
}

}  // namespace jitgate
