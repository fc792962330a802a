// What the SSH front's listener and connections share: the front's options,
// the pre-authentication counters, the audit queue (refusals before
// authentication rate-limited), the identity cache and the live connections.
#pragma once

#include <spdlog/spdlog.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "bastion_shell.hpp"
#include "jitgate/handle.hpp"
#include "jitgate/proxy/ssh_front.hpp"
#include "ssh_auth.hpp"

namespace jitgate {

class SshConnection;

struct SshFront::Shared : std::enable_shared_from_this<SshFront::Shared> {
  Shared(boost::asio::io_context& io, GrantEngine& engine, CertificateAuthority& authority,
         SessionRegistry& registry, SshFrontOptions options)
      : io(io),
        engine(engine),
        authority(authority),
        registry(registry),
        options(std::move(options)),
        acceptor(io) {
    if (this->options.api) shell = std::make_unique<BastionShell>(*this->options.api);
  }

  boost::asio::io_context& io;
  GrantEngine& engine;
  CertificateAuthority& authority;
  SessionRegistry& registry;
  SshFrontOptions options;
  std::unique_ptr<BastionShell> shell;  // the command interface (null: forward only)
  SshBindPtr bind;
  boost::asio::ip::tcp::acceptor acceptor;
  std::string hostKeyFingerprint;
  bool stopping = false;

  size_t unauthenticated = 0;
  std::unordered_map<std::string, int> unauthenticatedBySource;
  std::unordered_map<SshConnection*, std::weak_ptr<SshConnection>> connections;

  // Refusals before authentication can be provoked by anyone at any rate;
  // each audit entry costs a durable write, so at most kAuditBurst per second
  // are written one by one and the rest are counted into the next entry.
  static constexpr int kAuditBurst = 20;
  std::chrono::steady_clock::time_point auditSecond{};
  int auditedThisSecond = 0;
  int suppressed = 0;

  void recordPreAuth(AuditEntry e) {
    auto now = std::chrono::steady_clock::now();
    if (now - auditSecond >= std::chrono::seconds(1)) {
      auditSecond = now;
      auditedThisSecond = 0;
    }
    if (auditedThisSecond >= kAuditBurst) {
      ++suppressed;
      spdlog::info("ssh: {} ({} {})", e.detail, e.source, e.user);
      return;
    }
    ++auditedThisSecond;
    if (suppressed > 0) {
      e.detail += " (and " + std::to_string(suppressed) +
                  " earlier pre-authentication refusals not recorded one by one)";
      suppressed = 0;
    }
    record(std::move(e));
  }

  // Entries are queued and written together once the loop has finished what
  // it is doing: a burst of cutoffs closes every session first, then costs
  // one durable write instead of one per session.
  std::vector<AuditEntry> auditQueue;
  void record(AuditEntry e) {
    auditQueue.push_back(std::move(e));
    if (auditQueue.size() > 1) return;  // a flush is already on its way
    boost::asio::post(io, [weak = weak_from_this()] {
      if (auto self = weak.lock()) self->flushAudit();
    });
  }
  void flushAudit() {
    auto entries = std::move(auditQueue);
    auditQueue.clear();
    if (!engine.record(std::move(entries)))
      spdlog::error("ssh: audit entries not written (see above)");
  }

  void accept();
  void onAccept(boost::asio::ip::tcp::socket socket);

  // Trusted CA keys, revoked serials and users' keys, for authentication.
  SshIdentityCache identities{identitiesFrom(authority, engine)};
  int listener_ = 0;
};

}  // namespace jitgate
