// The daemon's certificate authority: CA keys on disk and in the store,
// issuing and recording certificates, rotation and the KRL.
#include "jitgate/authority.hpp"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "jitgate/files.hpp"
#include "jitgate/ssh_cert.hpp"
#include "jitgate/ssh_wire.hpp"

namespace jitgate {
namespace {

using Ms = std::chrono::milliseconds;

Refusal unavailable(const std::string& why) { return Refusal{RefusalCode::Unavailable, "", why}; }

// A file name no earlier key has: time plus 64 random bits.
std::string newKeyFileName(const char* prefix, SysTime at) {
  unsigned char tag[8];
  if (RAND_bytes(tag, sizeof tag) != 1) {
    spdlog::critical("RAND_bytes failed: cannot name a CA key");
    std::abort();
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned char c : tag) hex += {kHex[c >> 4], kHex[c & 15]};
  return std::string(prefix) + "-" + std::to_string(at.time_since_epoch().count()) + "-" + hex +
         ".key";
}

uint64_t randomSerial() {
  uint64_t v = 0;
  while (v == 0) {
    if (RAND_bytes(reinterpret_cast<unsigned char*>(&v), sizeof v) != 1) {
      spdlog::critical("RAND_bytes failed: cannot make certificate serials");
      std::abort();
    }
    v &= 0x7fffffffffffffffULL;  // below 2^63: fits SQLite and X.509 as positive
  }
  return v;
}

}  // namespace

CertificateAuthority::CertificateAuthority(Store& store, GrantEngine& engine, const Clock& clock,
                                           AuthorityOptions options)
    : store_(store), engine_(engine), clock_(clock), options_(std::move(options)) {
  caDir_ = options_.stateDir + "/ca";
  krlPath_ = options_.stateDir + "/revoked.krl";
}

CertificateAuthority::~CertificateAuthority() {
  if (listener_) engine_.unsubscribe(listener_);
}

Result<std::unique_ptr<CertificateAuthority>> CertificateAuthority::open(Store& store,
                                                                         GrantEngine& engine,
                                                                         const Clock& clock,
                                                                         AuthorityOptions options) {
  std::unique_ptr<CertificateAuthority> ca(
      new CertificateAuthority(store, engine, clock, std::move(options)));
  if (::mkdir(ca->caDir_.c_str(), 0700) != 0 && errno != EEXIST)
    return unavailable(ca->caDir_ + ": " + std::strerror(errno));
  struct stat st {};
  if (::lstat(ca->caDir_.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || (st.st_mode & 077))
    return unavailable(ca->caDir_ + ": must be a directory only its owner can use (0700)");
  if (auto s = ca->loadOrCreateSsh(); !s) return s.refusal();
  if (auto s = ca->loadOrCreateX509(); !s) return s.refusal();
  CertificateAuthority* self = ca.get();
  ca->listener_ = engine.subscribe([self](const GrantEnded& e) {
    if (e.why != WindowEnd::Revoked) return;  // expired certificates expire on their own
    self->refreshKrl("revoking " + e.grant.id);
  });
  if (auto s = ca->writeKrl(); !s) return s.refusal();
  return ca;
}

// A key made at start: its record and audit entry in one transaction.
Status CertificateAuthority::recordNewKey(CaKeyRecord& rec, const std::string& detail) {
  return store_.transaction([&]() -> Status {
    auto id = store_.insertCaKey(rec);
    if (!id) return id.refusal();
    rec.id = *id;
    AuditEntry e;
    e.time = std::chrono::floor<Ms>(clock_.now());
    e.actor = "jitgated";
    e.action = "ca.create";
    e.outcome = "ok";
    e.detail = detail;
    if (auto a = store_.appendAudit(e); !a) return a.refusal();
    return okStatus();
  });
}

Status CertificateAuthority::loadOrCreateSsh() {
  auto keys = store_.caKeys("ssh");
  if (!keys) return keys.refusal();
  for (auto it = keys->rbegin(); it != keys->rend(); ++it) {
    if (it->retiredAt) continue;
    auto key = SigningKey::load(caDir_ + "/" + it->file);
    if (!key) return key.refusal();
    if (key->publicLine("") != it->publicKey.substr(0, key->publicLine("").size()))
      return unavailable("SSH CA key " + it->file + " does not match its record");
    sshKey_ = std::move(*key);
    sshRecord_ = *it;
    return okStatus();
  }
  // First start, or every key retired: make one.
  auto key = SigningKey::generate(options_.sshAlgorithm);
  if (!key) return key.refusal();
  CaKeyRecord rec;
  rec.kind = "ssh";
  rec.algorithm = std::string(toString(options_.sshAlgorithm));
  rec.createdAt = std::chrono::floor<Seconds>(clock_.now());
  rec.file = newKeyFileName("ssh-ca", rec.createdAt);
  rec.publicKey = key->publicLine("jitgate-ca");
  if (auto s = key->save(caDir_ + "/" + rec.file); !s) return s;
  auto st =
      recordNewKey(rec, "SSH CA key " + rec.algorithm + " " + sshFingerprint(key->publicBlob()));
  if (!st) return st;
  spdlog::info("CA: new SSH signing key {} {}", rec.algorithm, sshFingerprint(key->publicBlob()));
  sshKey_ = std::move(*key);
  sshRecord_ = rec;
  return okStatus();
}

Status CertificateAuthority::loadOrCreateX509() {
  auto keys = store_.caKeys("x509");
  if (!keys) return keys.refusal();
  if (!keys->empty()) {
    const auto& rec = keys->back();
    auto keyPem = readRestrictedFile(caDir_ + "/" + rec.file, privateFileRules(""));
    if (!keyPem) return keyPem.refusal();
    auto ca = X509Authority::fromPem(*keyPem, rec.publicKey);
    OPENSSL_cleanse(keyPem->data(), keyPem->size());
    if (!ca) return ca.refusal();
    x509_ = std::move(*ca);
    x509KeyId_ = rec.id;
    return okStatus();
  }
  auto now = std::chrono::floor<Seconds>(clock_.now());
  auto ca = X509Authority::create("jitgate client CA", now);
  if (!ca) return ca.refusal();
  CaKeyRecord rec;
  rec.kind = "x509";
  rec.algorithm = "ecdsa-p256";
  rec.createdAt = now;
  rec.file = newKeyFileName("x509-ca", now);
  rec.publicKey = ca->certPem();
  std::string keyPem = ca->keyPem();
  auto written = writeFileAtomically(caDir_ + "/" + rec.file, keyPem, 0600);
  OPENSSL_cleanse(keyPem.data(), keyPem.size());
  if (!written) return written;
  auto st = recordNewKey(rec, "X.509 client CA (ECDSA P-256)");
  if (!st) return st;
  x509_ = std::move(*ca);
  x509KeyId_ = rec.id;
  return okStatus();
}

Result<Grant> CertificateAuthority::grantFor(const std::string& actor, bool actorIsAdmin,
                                             const std::string& grantId, bool ssh) {
  auto g = store_.grant(grantId);
  if (!g) return g.refusal();
  // Someone else's grant reads as absent to a non-admin.
  if (!*g || (!actorIsAdmin && (*g)->user != actor))
    return Refusal{RefusalCode::NotFound, "grant", "no grant with id '" + grantId + "'"};
  const Grant& grant = **g;
  auto now = std::chrono::floor<Seconds>(clock_.now());
  if (grant.state != GrantState::Active || now >= grant.end)
    return Refusal{
        RefusalCode::Conflict, "grant",
        "grant " + grantId + " is " +
            (grant.state == GrantState::Active ? "over" : std::string(toString(grant.state)))};
  auto t = store_.target(grant.target);
  if (!t) return t.refusal();
  if (!*t) return Refusal{RefusalCode::Conflict, "grant", "its target no longer exists"};
  uint16_t port = ssh ? (*t)->sshPort : (*t)->winrmHttpsPort;
  if (grant.port != port)
    return Refusal{RefusalCode::PolicyViolation, "grant",
                   "grant " + grantId + " is for port " + std::to_string(grant.port) +
                       ", not the " + (ssh ? "SSH" : "WinRM HTTPS") + " port " +
                       std::to_string(port) + " of " + grant.target};
  return grant;
}

Status CertificateAuthority::commit(IssuedCertificate& record, const std::string& actor,
                                    const Grant& g, const std::function<Status(uint64_t)>& sign) {
  for (int attempt = 0; attempt < 4; ++attempt) {
    record.serial = randomSerial();
    if (auto s = sign(record.serial); !s) return s;
    auto st = store_.transaction([&]() -> Status {
      if (auto s = store_.insertCertificate(record); !s) return s;
      AuditEntry e;
      e.time = std::chrono::floor<Ms>(clock_.now());
      e.actor = actor;
      e.action = "cert.issue";
      e.outcome = "ok";
      e.target = g.target;
      e.port = g.port;
      e.source = g.source.toString();
      e.user = g.user;
      e.grantId = g.id;
      e.detail = record.kind + " certificate serial " + std::to_string(record.serial) +
                 " valid until " + formatTimestamp(record.validBefore) +
                 (record.subjectFingerprint.empty() ? "" : " for " + record.subjectFingerprint);
      if (auto a = store_.appendAudit(e); !a) return a.refusal();
      return okStatus();
    });
    if (st) return okStatus();
    if (st.refusal().code != RefusalCode::AlreadyExists) return st;
  }
  return unavailable("could not draw an unused certificate serial");
}

Result<SshCertificateIssued> CertificateAuthority::issueSsh(const std::string& actor,
                                                            bool actorIsAdmin,
                                                            const std::string& grantId,
                                                            const std::string& publicKeyLine) {
  if (krlStale_) refreshKrl("an earlier failure");
  auto key = parseSshPublicKey(publicKeyLine, "publicKey");
  if (!key) return key.refusal();
  if (key->type.rfind("sk-", 0) == 0)
    return invalid("publicKey", "security-key (sk-*) keys cannot be certified yet");
  auto g = grantFor(actor, actorIsAdmin, grantId, true);
  if (!g) return g.refusal();
  std::string blob;
  if (!base64Decode(key->base64, blob)) return invalid("publicKey", "key data is not base64");

  SshCertRequest req;
  req.subjectKey = blob;
  // Scoped to the grant's target: another target's sshd (its
  // AuthorizedPrincipalsCommand names itself) and pam_jitgate refuse it.
  req.principals = {targetPrincipal(g->user, g->target)};
  req.validAfter = g->start - options_.clockSkew;
  req.validBefore = g->end;
  // Omitted only for a grant from anywhere at all ("*" or ::/0); a
  // 0.0.0.0/0 grant still keeps the certificate to IPv4.
  std::string source = g->source.toString();
  if (source != "*" && source != "::/0") req.sourceAddresses = {g->source};
  // A shell needs a pty; agent, X11, port forwarding and ~/.ssh/rc are not
  // part of a JIT window.
  req.extensions = {"permit-pty"};
  return signSsh(std::move(req), actor, *g, key->fingerprint,
                 "jitgate grant=" + g->id + " user=" + g->user + " target=" + g->target,
                 "jitgate-" + g->id);
}

Result<SshCertificateIssued> CertificateAuthority::signSsh(SshCertRequest req,
                                                           const std::string& actor, const Grant& g,
                                                           const std::string& subjectFingerprint,
                                                           const std::string& keyIdPrefix,
                                                           const std::string& comment) {
  SshCertificateIssued out;
  IssuedCertificate& rec = out.record;
  rec.kind = "ssh";
  rec.grantId = g.id;
  rec.user = g.user;
  rec.caKeyId = sshRecord_.id;
  rec.validAfter = req.validAfter;
  rec.validBefore = req.validBefore;
  rec.issuedAt = std::chrono::floor<Seconds>(clock_.now());
  rec.issuedBy = actor;
  rec.subjectFingerprint = subjectFingerprint;
  auto st = commit(rec, actor, g, [&](uint64_t serial) -> Status {
    req.serial = serial;
    req.keyId = keyIdPrefix + " serial=" + std::to_string(serial);
    rec.keyId = req.keyId;
    out.principal = req.principals.front();
    auto cert = issueSshCertificate(*sshKey_, req);
    if (!cert) return cert.refusal();
    out.line = sshCertificateLine(*cert, comment);
    return okStatus();
  });
  if (!st) return st.refusal();
  return out;
}

Result<SshCertificateIssued> CertificateAuthority::issueHop(const std::string& grantId,
                                                            const std::string& login,
                                                            const IpAddress& bastionAddress,
                                                            const std::string& subjectKey,
                                                            const std::string& subjectFingerprint) {
  if (krlStale_) refreshKrl("an earlier failure");
  if (auto st = validateName(login, "login"); !st) return st.refusal();
  auto g = grantFor("jitgated", true, grantId, true);
  if (!g) return g.refusal();
  auto now = std::chrono::floor<Seconds>(clock_.now());
  // The hop logs in as the grant's holder, within the grant's window only.
  if (login != g->user)
    return Refusal{RefusalCode::PolicyViolation, "login",
                   "grant " + grantId + " is " + g->user + "'s, not " + login + "'s"};
  if (now < g->start)
    return Refusal{RefusalCode::Conflict, "grant", "grant " + grantId + " has not started yet"};
  SshCertRequest req;
  req.subjectKey = subjectKey;
  req.principals = {targetPrincipal(login, g->target)};
  req.validAfter = now - options_.clockSkew;
  req.validBefore = g->end;
  auto bits = bastionAddress.isV4() ? "/32" : "/128";
  auto source = Cidr::parse(bastionAddress.toString() + bits, "bastionAddress");
  if (!source) return source.refusal();
  req.sourceAddresses = {*source};
  req.extensions = {"permit-pty"};
  return signSsh(std::move(req), "jitgated", *g, subjectFingerprint,
                 "jitgate hop grant=" + g->id + " user=" + g->user + " target=" + g->target +
                     " login=" + login,
                 "jitgate-hop-" + g->id);
}

Result<X509CertificateIssued> CertificateAuthority::issueX509(const std::string& actor,
                                                              bool actorIsAdmin,
                                                              const std::string& grantId) {
  if (krlStale_) refreshKrl("an earlier failure");
  auto g = grantFor(actor, actorIsAdmin, grantId, false);
  if (!g) return g.refusal();
  X509CertificateIssued out;
  IssuedCertificate& rec = out.record;
  rec.kind = "x509";
  rec.grantId = g->id;
  rec.user = g->user;
  rec.caKeyId = x509KeyId_;
  rec.validAfter = g->start - options_.clockSkew;
  rec.validBefore = g->end;
  rec.issuedAt = std::chrono::floor<Seconds>(clock_.now());
  rec.issuedBy = actor;
  auto st = commit(rec, actor, *g, [&](uint64_t serial) -> Status {
    X509ClientSpec spec;
    spec.user = g->user;
    spec.upnDomain = options_.upnDomain;
    spec.grantId = g->id;
    spec.target = g->target;
    spec.serial = serial;
    spec.notBefore = rec.validAfter;
    spec.notAfter = rec.validBefore;
    rec.keyId = "CN=" + g->user + " grant=" + g->id;
    auto issued = x509_->issueClient(spec);
    if (!issued) return issued.refusal();
    out.material = std::move(*issued);
    return okStatus();
  });
  if (!st) return st.refusal();
  return out;
}

Result<std::vector<CaKeyRecord>> CertificateAuthority::trustedSshKeys() {
  auto keys = store_.caKeys("ssh");
  if (!keys) return keys.refusal();
  auto now = std::chrono::floor<Seconds>(clock_.now());
  std::vector<CaKeyRecord> out;
  for (const auto& k : *keys) {
    if (k.retiredAt) {
      auto last = store_.lastValidBefore(k.id);
      if (!last) return last.refusal();
      if (!*last || **last <= now) continue;  // nothing it signed is valid any more
    }
    out.push_back(k);
  }
  return out;
}

std::string CertificateAuthority::x509CaPem() const { return x509_->certPem(); }

Result<std::string> CertificateAuthority::krl() {
  auto now = std::chrono::floor<Seconds>(clock_.now());
  // A target whose clock runs behind (by the skew we allow) still sees a
  // certificate as valid a little longer: keep listing it that long.
  auto revoked = store_.revokedCertificates("ssh", now - options_.clockSkew);
  if (!revoked) return revoked.refusal();
  auto keys = store_.caKeys("ssh");
  if (!keys) return keys.refusal();
  std::vector<KrlEntry> entries;
  for (const auto& k : *keys) {
    KrlEntry e;
    auto blob = parseTrustedCaKeys(k.publicKey);
    if (!blob) return unavailable("CA key record " + std::to_string(k.id));
    e.caKey = std::move(blob->front());
    for (const auto& c : *revoked)
      if (c.caKeyId == k.id) e.serials.push_back(c.serial);
    if (!e.serials.empty()) entries.push_back(std::move(e));
  }
  auto version =
      static_cast<uint64_t>(std::chrono::floor<Ms>(clock_.now()).time_since_epoch().count());
  return buildKrl(entries, version, now, "jitgate revoked grants");
}

void CertificateAuthority::refreshKrl(const std::string& why) {
  auto s = writeKrl();
  if (s) {
    if (krlStale_) spdlog::info("KRL: {} is current again", krlPath_);
    krlStale_ = false;
    return;
  }
  // sshd keeps reading the old file: say so loudly and where admins look;
  // every later CA call and revoke tries again (jitctl ca krl always
  // answers from the store, so it stays right meanwhile).
  krlStale_ = true;
  spdlog::error("KRL: cannot rewrite {} after {}: {}", krlPath_, why, s.refusal().message);
  AuditEntry e;
  e.actor = "jitgated";
  e.action = "ca.krl";
  e.outcome = "error";
  e.detail = "cannot rewrite " + krlPath_ + " after " + why + ": " + s.refusal().message;
  (void)engine_.record(e);
}

Status CertificateAuthority::writeKrl() {
  auto blob = krl();
  if (!blob) return blob.refusal();
  // World-readable: it lists serials, nothing secret, and sshd must read it.
  return writeFileAtomically(krlPath_, *blob, 0644);
}

Result<std::set<uint64_t>> CertificateAuthority::revokedX509Serials() {
  auto revoked = store_.revokedCertificates("x509", std::chrono::floor<Seconds>(clock_.now()));
  if (!revoked) return revoked.refusal();
  std::set<uint64_t> out;
  for (const auto& c : *revoked) out.insert(c.serial);
  return out;
}

Result<CaKeyRecord> CertificateAuthority::rotateSsh(const std::string& actor,
                                                    std::optional<KeyAlgorithm> algorithm) {
  // The new key is made and on disk before anything changes; then the old
  // key's retirement and the new key's record commit together, so there is
  // always exactly one signing key, in memory and in the store.
  KeyAlgorithm alg = algorithm.value_or(options_.sshAlgorithm);
  auto key = SigningKey::generate(alg);
  if (!key) return key.refusal();
  CaKeyRecord rec;
  rec.kind = "ssh";
  rec.algorithm = std::string(toString(alg));
  rec.createdAt = std::chrono::floor<Seconds>(clock_.now());
  rec.file = newKeyFileName("ssh-ca", rec.createdAt);
  rec.publicKey = key->publicLine("jitgate-ca");
  if (auto s = key->save(caDir_ + "/" + rec.file); !s) return s.refusal();
  auto old = sshRecord_;
  auto st = store_.transaction([&]() -> Status {
    if (auto s = store_.retireCaKey(old.id, rec.createdAt); !s) return s;
    auto id = store_.insertCaKey(rec);
    if (!id) return id.refusal();
    rec.id = *id;
    AuditEntry e;
    e.time = std::chrono::floor<Ms>(clock_.now());
    e.actor = actor;
    e.action = "ca.rotate";
    e.outcome = "ok";
    e.detail = "SSH CA key " + std::to_string(old.id) + " retired; new key " +
               std::to_string(rec.id) + " " + rec.algorithm + " " +
               sshFingerprint(key->publicBlob());
    if (auto a = store_.appendAudit(e); !a) return a.refusal();
    return okStatus();
  });
  if (!st) {
    ::unlink((caDir_ + "/" + rec.file).c_str());
    return st.refusal();
  }
  sshKey_ = std::move(*key);
  sshRecord_ = rec;
  spdlog::info("CA: rotated to SSH signing key {} {}", rec.algorithm,
               sshFingerprint(sshKey_->publicBlob()));
  return rec;
}

}  // namespace jitgate
