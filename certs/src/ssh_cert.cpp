// OpenSSH user certificates: encoding, signing, parsing and checking them
// (PROTOCOL.certkeys; the fields we set are in docs/CERTIFICATES.md).
#include "jitgate/ssh_cert.hpp"

#include <openssl/rand.h>

#include <algorithm>

#include "jitgate/ssh_wire.hpp"
#include "jitgate/text.hpp"

namespace jitgate {
namespace {

constexpr std::string_view kCertSuffix = "-cert-v01@openssh.com";
constexpr uint64_t kKrlMagic = 0x5353484b524c0a00ULL;  // "SSHKRL\n\0"
constexpr uint8_t kKrlSectionCertificates = 1;
constexpr uint8_t kKrlCertSerialList = 0x20;
constexpr uint8_t kKrlCertSerialRange = 0x21;
constexpr uint8_t kKrlCertSerialBitmap = 0x22;

Refusal malformed(const std::string& why) { return invalid("certificate", why); }

// How many SSH strings/mpints follow the nonce for each base key type.
int keyFieldCount(std::string_view baseType) {
  if (baseType == "ssh-ed25519") return 1;
  if (baseType == "ecdsa-sha2-nistp256" || baseType == "ecdsa-sha2-nistp384" ||
      baseType == "ecdsa-sha2-nistp521")
    return 2;
  if (baseType == "ssh-rsa") return 2;
  return -1;
}

// name/value pairs, each value itself an SSH string holding the data; names
// must be strictly increasing (sorted and unique).
bool parseOptions(std::string_view blob, bool valuesAreStrings,
                  std::vector<std::pair<std::string, std::string>>& out, std::string& why) {
  SshReader r(blob);
  std::string last;
  while (!r.empty()) {
    std::string_view name, data;
    if (!r.string(name) || !r.string(data)) {
      why = "truncated option list";
      return false;
    }
    if (!out.empty() && std::string(name) <= last) {
      why = "options are not sorted and unique ('" + std::string(name.substr(0, 64)) + "')";
      return false;
    }
    last = std::string(name);
    std::string value;
    if (!data.empty()) {
      SshReader dr(data);
      std::string_view inner;
      if (!dr.string(inner) || !dr.empty()) {
        if (valuesAreStrings) {
          why = "malformed value of option '" + last + "'";
          return false;
        }
        inner = data;
      }
      value = std::string(inner);
    }
    out.emplace_back(last, std::move(value));
  }
  return true;
}

std::string encodeOptions(const std::vector<std::pair<std::string, std::string>>& opts) {
  SshWriter w;
  for (const auto& [name, value] : opts) {
    w.string(name);
    if (value.empty()) {
      w.string("");
    } else {
      SshWriter inner;
      inner.string(value);
      w.string(inner.data());
    }
  }
  return w.take();
}

bool sourceAllowed(std::string_view list, const IpAddress& source, std::string& why) {
  size_t start = 0;
  while (start <= list.size()) {
    size_t comma = list.find(',', start);
    auto item = list.substr(start, comma == std::string_view::npos ? list.npos : comma - start);
    auto c = Cidr::parse(item, "source-address");
    if (!c || (c->isAny() && item == "*")) {
      why = "malformed source-address '" + std::string(item.substr(0, 64)) + "'";
      return false;
    }
    // sshd never matches an IPv4 client (mapped or not) against a prefix
    // written in IPv6; neither do we.
    bool writtenAsV6 = item.find(':') != std::string_view::npos;
    if (!(writtenAsV6 && source.isV4()) && c->contains(source)) return true;
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  why = "source " + source.toString() + " is not in source-address " +
        std::string(list.substr(0, 256));
  return false;
}

}  // namespace

std::string_view toString(CertCheck c) {
  switch (c) {
    case CertCheck::Ok:
      return "ok";
    case CertCheck::Malformed:
      return "malformed";
    case CertCheck::NotUserCertificate:
      return "not_user_certificate";
    case CertCheck::UntrustedCa:
      return "untrusted_ca";
    case CertCheck::ChainedCa:
      return "chained_ca";
    case CertCheck::BadSignature:
      return "bad_signature";
    case CertCheck::NoPrincipals:
      return "no_principals";
    case CertCheck::WrongPrincipal:
      return "wrong_principal";
    case CertCheck::NotYetValid:
      return "not_yet_valid";
    case CertCheck::Expired:
      return "expired";
    case CertCheck::UnknownCriticalOption:
      return "unknown_critical_option";
    case CertCheck::SourceNotAllowed:
      return "source_not_allowed";
    case CertCheck::Revoked:
      return "revoked";
    case CertCheck::WrongTarget:
      return "wrong_target";
  }
  return "unknown";
}

Result<SshCertificate> parseSshCertificate(std::string_view blob) {
  if (blob.size() > 64 * 1024) return malformed("larger than 64 KiB");
  SshReader r(blob);
  SshCertificate c;
  std::string_view type, nonce;
  if (!r.string(type)) return malformed("truncated");
  c.certType = std::string(type);
  if (type.size() <= kCertSuffix.size() ||
      type.substr(type.size() - kCertSuffix.size()) != kCertSuffix)
    return malformed("not a certificate type: '" + std::string(type.substr(0, 64)) + "'");
  std::string_view baseType = type.substr(0, type.size() - kCertSuffix.size());
  int fields = keyFieldCount(baseType);
  if (fields < 0) return malformed("unsupported certificate type '" + c.certType + "'");
  if (!r.string(nonce)) return malformed("truncated nonce");
  SshWriter key;
  key.string(baseType);
  size_t keyStart = r.offset();
  for (int i = 0; i < fields; ++i) {
    std::string_view f;
    if (!r.string(f) || f.empty()) return malformed("truncated public key");
  }
  key.raw(blob.substr(keyStart, r.offset() - keyStart));
  c.keyBlob = key.take();
  std::string_view keyId, principals, critical, extensions, reserved, sigKey, sig;
  if (!r.u64(c.serial) || !r.u32(c.type) || !r.string(keyId) || !r.string(principals) ||
      !r.u64(c.validAfter) || !r.u64(c.validBefore) || !r.string(critical) ||
      !r.string(extensions) || !r.string(reserved) || !r.string(sigKey))
    return malformed("truncated");
  c.signedData = std::string(blob.substr(0, r.offset()));
  if (!r.string(sig)) return malformed("truncated signature");
  if (!r.empty()) return malformed("trailing bytes after the signature");
  c.keyId = std::string(keyId);
  c.signatureKey = std::string(sigKey);
  c.signature = std::string(sig);
  SshReader pr(principals);
  while (!pr.empty()) {
    std::string_view p;
    if (!pr.string(p)) return malformed("truncated principals");
    c.principals.emplace_back(p);
  }
  std::string why;
  if (!parseOptions(critical, true, c.criticalOptions, why)) return malformed("critical " + why);
  if (!parseOptions(extensions, false, c.extensions, why)) return malformed("extension " + why);
  return c;
}

std::string certificateFromAuthInfo(std::string_view text) {
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    auto line = text.substr(start, end == std::string_view::npos ? text.npos : end - start);
    if (line.rfind("publickey ", 0) == 0) line.remove_prefix(10);
    if (line.find("-cert-v01@openssh.com ") != std::string_view::npos) return std::string(line);
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return std::string();
}

Result<std::vector<std::string>> parseTrustedCaKeys(std::string_view text) {
  std::vector<std::string> out;
  size_t start = 0, lineNo = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    auto l = text.substr(start, end == std::string_view::npos ? text.npos : end - start);
    start = end == std::string_view::npos ? text.size() : end + 1;
    ++lineNo;
    while (!l.empty() && (l.back() == '\r' || l.back() == ' ')) l.remove_suffix(1);
    if (l.empty() || l.front() == '#') continue;
    auto sp = l.find(' ');
    std::string blob;
    if (sp == std::string_view::npos) {
      return invalid("ca", "line " + std::to_string(lineNo) + " is not 'TYPE BASE64 [COMMENT]'");
    }
    auto rest = l.substr(sp + 1);
    if (!base64Decode(rest.substr(0, rest.find(' ')), blob) || !sshKeyType(blob) ||
        *sshKeyType(blob) != l.substr(0, sp))
      return invalid("ca", "line " + std::to_string(lineNo) + " is not a readable public key");
    out.push_back(std::move(blob));
  }
  if (out.empty()) return invalid("ca", "no CA key to trust");
  return out;
}

Result<SshCertificate> parseSshCertificateLine(std::string_view line) {
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r' || line.back() == ' '))
    line.remove_suffix(1);
  auto sp = line.find(' ');
  if (sp == std::string_view::npos) return malformed("expected 'TYPE BASE64 [COMMENT]'");
  auto rest = line.substr(sp + 1);
  auto b64 = rest.substr(0, rest.find(' '));
  std::string blob;
  if (!base64Decode(b64, blob)) return malformed("not base64");
  auto c = parseSshCertificate(blob);
  if (!c) return c;
  if (c->certType != line.substr(0, sp)) return malformed("type word does not match the blob");
  return c;
}

Result<std::string> issueSshCertificate(const SigningKey& ca, const SshCertRequest& req) {
  auto baseType = sshKeyType(req.subjectKey);
  if (!baseType) return baseType.refusal();
  int fields = keyFieldCount(*baseType);
  if (fields < 0) return invalid("key", "cannot certify a '" + *baseType + "' key");
  if (req.principals.empty())
    return invalid("principals", "a certificate without principals is valid for anyone");
  if (req.validBefore <= req.validAfter)
    return invalid("valid_before", "the certificate window is empty");
  if (req.serial == 0) return invalid("serial", "serial 0 is reserved");
  std::vector<std::pair<std::string, std::string>> critical;
  if (!req.sourceAddresses.empty()) {
    std::string list;
    for (const auto& c : req.sourceAddresses) {
      if (c.isAny() && c.toString() == "*")
        return invalid("source", "source-address cannot say '*'");
      list += (list.empty() ? "" : ",") + c.toString();
    }
    critical.emplace_back("source-address", list);
  }
  std::vector<std::pair<std::string, std::string>> exts;
  for (const auto& e : req.extensions) exts.emplace_back(e, "");
  std::sort(exts.begin(), exts.end());
  exts.erase(std::unique(exts.begin(), exts.end()), exts.end());

  unsigned char nonce[32];
  if (RAND_bytes(nonce, sizeof nonce) != 1)
    return Refusal{RefusalCode::Unavailable, "", "no randomness for the nonce"};
  // The key's own fields are copied into the signed body: they must be
  // exactly the fields of that key type, or a crafted blob could shift
  // what follows under the CA's signature.
  SshReader keyReader(req.subjectKey);
  std::string_view skip;
  keyReader.string(skip);
  {
    SshReader check(keyReader.rest());
    for (int i = 0; i < fields; ++i) {
      std::string_view f;
      if (!check.string(f) || f.empty()) return invalid("key", "malformed public key");
    }
    if (!check.empty()) return invalid("key", "trailing bytes after the public key");
  }
  SshWriter principals;
  for (const auto& p : req.principals) principals.string(p);

  SshWriter w;
  w.string(*baseType + std::string(kCertSuffix))
      .string(std::string_view(reinterpret_cast<char*>(nonce), sizeof nonce))
      .raw(keyReader.rest())
      .u64(req.serial)
      .u32(1)
      .string(req.keyId)
      .string(principals.data())
      .u64(static_cast<uint64_t>(req.validAfter.time_since_epoch().count()))
      .u64(static_cast<uint64_t>(req.validBefore.time_since_epoch().count()))
      .string(encodeOptions(critical))
      .string(encodeOptions(exts))
      .string("")
      .string(ca.publicBlob());
  auto sig = ca.sign(w.data());
  if (!sig) return sig.refusal();
  w.string(*sig);
  return w.take();
}

std::string sshCertificateLine(std::string_view blob, std::string_view comment) {
  auto type = sshKeyType(blob);
  std::string line = (type ? *type : std::string("?")) + " " + base64Encode(blob);
  if (!comment.empty()) line += " " + std::string(comment);
  return line;
}

bool isRevoked(const RevokedSerials& revoked, const std::string& caKey, uint64_t serial) {
  for (const auto* key : {&caKey, static_cast<const std::string*>(nullptr)}) {
    auto it = revoked.find(key ? *key : std::string());
    if (it == revoked.end()) continue;
    for (const auto& [lo, hi] : it->second)
      if (serial >= lo && serial <= hi) return true;
  }
  return false;
}

std::string targetPrincipal(std::string_view login, std::string_view target) {
  return std::string(login) + "@" + std::string(target);
}

namespace {

// The login's principal for this target; a certificate for the same login
// on another target is told apart (wrong_target) from one for someone else.
template <class Fail>
CertCheck checkPrincipals(const SshCertificate& c, const CertExpectations& x, Fail& fail) {
  std::string prefix = x.principal + "@";
  auto forLogin = [&](const std::string& p) {
    return p.size() > prefix.size() && p.compare(0, prefix.size(), prefix) == 0 &&
           p.find('@', prefix.size()) == std::string::npos;
  };
  if (x.principal.empty() || x.principal.find('@') != std::string::npos)
    return fail(CertCheck::WrongPrincipal, "no usable login to check against");
  if (x.anyTarget) {
    if (std::any_of(c.principals.begin(), c.principals.end(), forLogin)) return CertCheck::Ok;
  } else if (x.target.empty()) {
    return fail(CertCheck::WrongTarget, "no target to check the certificate against");
  } else {
    std::string want = targetPrincipal(x.principal, x.target);
    if (std::find(c.principals.begin(), c.principals.end(), want) != c.principals.end())
      return CertCheck::Ok;
    auto other = std::find_if(c.principals.begin(), c.principals.end(), forLogin);
    if (other != c.principals.end())
      return fail(CertCheck::WrongTarget, "valid for target '" +
                                              printable(other->substr(prefix.size()), 64) +
                                              "', not '" + x.target + "'");
  }
  bool bare =
      std::find(c.principals.begin(), c.principals.end(), x.principal) != c.principals.end();
  return fail(CertCheck::WrongPrincipal,
              "not valid for '" + x.principal + "'" +
                  (x.anyTarget ? std::string(" on any target")
                               : " on '" + x.target + "' (principal " +
                                     targetPrincipal(x.principal, x.target) + ")") +
                  (bare ? "; it names the bare login, which binds it to no target" : ""));
}

}  // namespace

CertCheck checkSshCertificate(const SshCertificate& c, const CertExpectations& x,
                              std::string* why) {
  auto fail = [&](CertCheck code, std::string text) {
    if (why) *why = std::string(toString(code)) + ": " + std::move(text);
    return code;
  };
  if (c.type != 1)
    return fail(CertCheck::NotUserCertificate, "certificate type " + std::to_string(c.type));
  auto caType = sshKeyType(c.signatureKey);
  if (!caType) return fail(CertCheck::Malformed, "malformed signature key");
  if (caType->size() > kCertSuffix.size() &&
      caType->compare(caType->size() - kCertSuffix.size(), kCertSuffix.size(), kCertSuffix) == 0)
    return fail(CertCheck::ChainedCa, "signed by a certificate, not a CA key");
  if (std::find(x.trustedCaKeys.begin(), x.trustedCaKeys.end(), c.signatureKey) ==
      x.trustedCaKeys.end())
    return fail(CertCheck::UntrustedCa, "signed by " + sshFingerprint(c.signatureKey));
  if (auto st = verifySshSignature(c.signatureKey, c.signature, c.signedData); !st)
    return fail(CertCheck::BadSignature, st.refusal().message);
  if (c.principals.empty())
    return fail(CertCheck::NoPrincipals, "no principals (valid for anyone)");
  if (auto code = checkPrincipals(c, x, fail); code != CertCheck::Ok) return code;
  if (x.now < c.validAfter)
    return fail(CertCheck::NotYetValid,
                "valid from " + formatTimestamp(SysTime(
                                    Seconds(std::min<uint64_t>(c.validAfter, 253402300799ULL)))));
  if (x.now >= c.validBefore)
    return fail(CertCheck::Expired,
                "expired at " + formatTimestamp(SysTime(
                                    Seconds(std::min<uint64_t>(c.validBefore, 253402300799ULL)))));
  for (const auto& [name, value] : c.criticalOptions) {
    // Only source-address is honoured: a restriction we do not enforce
    // (force-command, verify-required) must not pass as if it were.
    if (name != "source-address")
      return fail(CertCheck::UnknownCriticalOption, "'" + name.substr(0, 64) + "'");
    std::string reason;
    if (!sourceAllowed(value, x.source, reason)) {
      return fail(
          reason.rfind("malformed", 0) == 0 ? CertCheck::Malformed : CertCheck::SourceNotAllowed,
          reason);
    }
  }
  if (isRevoked(x.revoked, c.signatureKey, c.serial))
    return fail(CertCheck::Revoked, "serial " + std::to_string(c.serial) + " is revoked");
  if (why) *why = "ok";
  return CertCheck::Ok;
}

std::string buildKrl(const std::vector<KrlEntry>& entries, uint64_t version, SysTime generated,
                     std::string_view comment) {
  SshWriter w;
  w.u64(kKrlMagic)
      .u32(1)
      .u64(version)
      .u64(static_cast<uint64_t>(generated.time_since_epoch().count()))
      .u64(0)
      .string("")
      .string(comment);
  for (const auto& e : entries) {
    std::vector<uint64_t> serials = e.serials;
    std::sort(serials.begin(), serials.end());
    serials.erase(std::unique(serials.begin(), serials.end()), serials.end());
    SshWriter list;
    for (uint64_t s : serials) list.u64(s);
    SshWriter section;
    section.string(e.caKey).string("");
    if (!serials.empty()) section.u8(kKrlCertSerialList).string(list.data());
    w.u8(kKrlSectionCertificates).string(section.data());
  }
  return w.take();
}

Result<RevokedSerials> parseKrl(std::string_view blob) {
  auto bad = [](const std::string& why) { return invalid("krl", why); };
  SshReader r(blob);
  uint64_t magic, version, generated, flags;
  uint32_t format;
  std::string_view reserved, comment;
  if (!r.u64(magic) || magic != kKrlMagic) return bad("not a KRL");
  if (!r.u32(format) || format != 1) return bad("unsupported KRL format version");
  if (!r.u64(version) || !r.u64(generated) || !r.u64(flags) || !r.string(reserved) ||
      !r.string(comment))
    return bad("truncated header");
  RevokedSerials out;
  while (!r.empty()) {
    uint8_t type;
    std::string_view data;
    if (!r.u8(type) || !r.string(data)) return bad("truncated section");
    if (type != kKrlSectionCertificates)
      return bad("section type " + std::to_string(type) + " is not supported");
    SshReader s(data);
    std::string_view caKey, res;
    if (!s.string(caKey) || !s.string(res)) return bad("truncated certificate section");
    auto& ranges = out[std::string(caKey)];
    while (!s.empty()) {
      uint8_t sub;
      std::string_view body;
      if (!s.u8(sub) || !s.string(body)) return bad("truncated certificate subsection");
      SshReader b(body);
      if (sub == kKrlCertSerialList) {
        while (!b.empty()) {
          uint64_t v;
          if (!b.u64(v)) return bad("truncated serial list");
          if (v == 0) return bad("serial 0 in a KRL");  // sshd refuses such a KRL
          ranges.emplace_back(v, v);
        }
      } else if (sub == kKrlCertSerialRange) {
        uint64_t lo, hi;
        if (!b.u64(lo) || !b.u64(hi) || !b.empty() || lo > hi || lo == 0)
          return bad("malformed serial range");
        ranges.emplace_back(lo, hi);
      } else if (sub == kKrlCertSerialBitmap) {
        // uint64 offset, mpint bitmap: bit i (from the least significant
        // end) revokes serial offset + i.
        uint64_t offset;
        std::string_view bits;
        if (!b.u64(offset) || !b.string(bits) || !b.empty() || offset == 0)
          return bad("malformed serial bitmap");
        uint64_t width = static_cast<uint64_t>(bits.size()) * 8;
        if (width && offset > UINT64_MAX - width) return bad("serial bitmap out of range");
        bool open = false;
        uint64_t start = 0;
        for (uint64_t i = 0; i < width; ++i) {
          uint8_t byte = static_cast<uint8_t>(bits[bits.size() - 1 - i / 8]);
          bool set = byte & (1u << (i % 8));
          if (set && !open) open = true, start = offset + i;
          if (!set && open) open = false, ranges.emplace_back(start, offset + i - 1);
        }
        if (open) ranges.emplace_back(start, offset + width - 1);
      } else {
        return bad("certificate subsection " + std::to_string(sub) + " is not supported");
      }
    }
  }
  return out;
}

}  // namespace jitgate
