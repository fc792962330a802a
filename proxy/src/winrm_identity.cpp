// The WinRM front's reading of Authorization headers and request targets.
#include "jitgate/proxy/winrm_identity.hpp"

#include <openssl/crypto.h>

#include <algorithm>
#include <cctype>
#include <optional>

#include "jitgate/model.hpp"
#include "jitgate/ssh_wire.hpp"
#include "jitgate/text.hpp"

namespace jitgate {
namespace {

constexpr std::string_view kField = "authorization";
constexpr std::string_view kNtlmSignature{"NTLMSSP\0", 8};
constexpr std::string_view kMutualProfile =
    "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/mutual";
constexpr uint32_t kNtlmNegotiateUnicode = 0x00000001;

Refusal authError(std::string message) { return invalid(std::string(kField), std::move(message)); }

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

uint16_t le16(std::string_view m, size_t at) {
  return static_cast<uint16_t>(static_cast<uint8_t>(m[at]) | static_cast<uint8_t>(m[at + 1]) << 8);
}
uint32_t le32(std::string_view m, size_t at) {
  return static_cast<uint32_t>(le16(m, at)) | static_cast<uint32_t>(le16(m, at + 2)) << 16;
}

// A Windows account as typed: "DOMAIN\user", "user@domain" or "user".
Result<ClientCredential> accountName(AuthScheme scheme, std::string_view account) {
  ClientCredential c;
  c.scheme = scheme;
  std::string_view user = account;
  if (auto bs = account.find('\\'); bs != std::string_view::npos) {
    c.domain = std::string(account.substr(0, bs));
    user = account.substr(bs + 1);
  } else if (auto at = account.rfind('@'); at != std::string_view::npos) {
    user = account.substr(0, at);
    c.domain = std::string(account.substr(at + 1));
  }
  if (user.empty()) return authError("anonymous credentials name no user");
  if (auto st = validateName(user, kField); !st)
    return authError("user name is not a jitgate user name (1..64 of A-Z a-z 0-9 . _ -)");
  c.user = std::string(user);
  return c;
}

// UTF-16LE to UTF-8; false on an odd length or an unpaired surrogate.
bool utf16leToUtf8(std::string_view in, std::string& out) {
  if (in.size() % 2) return false;
  out.clear();
  for (size_t i = 0; i < in.size(); i += 2) {
    uint32_t cp = le16(in, i);
    if (cp >= 0xD800 && cp <= 0xDBFF) {
      if (i + 4 > in.size()) return false;
      uint32_t lo = le16(in, i + 2);
      if (lo < 0xDC00 || lo > 0xDFFF) return false;
      cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
      i += 2;
    } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
      return false;
    }
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | cp >> 6);
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | cp >> 12);
      out += static_cast<char>(0x80 | (cp >> 6 & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | cp >> 18);
      out += static_cast<char>(0x80 | (cp >> 12 & 0x3F));
      out += static_cast<char>(0x80 | (cp >> 6 & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }
  return true;
}

// A string field of an NTLM message: uint16 length, uint16 max, uint32 offset.
bool ntlmField(std::string_view m, size_t at, bool unicode, std::string& out) {
  uint16_t len = le16(m, at);
  uint32_t offset = le32(m, at + 4);
  if (static_cast<uint64_t>(offset) + len > m.size()) return false;
  std::string_view raw = m.substr(offset, len);
  if (unicode) return utf16leToUtf8(raw, out);
  for (char ch : raw)
    if (static_cast<unsigned char>(ch) >= 0x80) return false;  // OEM code pages: ASCII only
  out.assign(raw);
  return true;
}

// One DER element: tag, definite length (short or long form up to 4 bytes).
bool derNext(std::string_view& in, uint8_t& tag, std::string_view& value) {
  if (in.size() < 2) return false;
  tag = static_cast<uint8_t>(in[0]);
  size_t len = static_cast<uint8_t>(in[1]);
  size_t header = 2;
  if (len & 0x80) {
    size_t n = len & 0x7f;
    if (n == 0 || n > 4 || in.size() < 2 + n) return false;
    len = 0;
    for (size_t i = 0; i < n; ++i) len = (len << 8) | static_cast<uint8_t>(in[2 + i]);
    header = 2 + n;
  }
  if (in.size() - header < len) return false;
  value = in.substr(header, len);
  in.remove_prefix(header + len);
  return true;
}

constexpr std::string_view kSpnegoOid{"\x2b\x06\x01\x05\x05\x02", 6};
constexpr std::string_view kNtlmOid{"\x2b\x06\x01\x04\x01\x82\x37\x02\x02\x0a", 10};

// The NTLM message inside SPNEGO (RFC 4178): NegTokenInit with NTLM as the
// first mechanism and its mechToken, or NegTokenResp (NTLM if it names a
// mechanism) and its responseToken. The whole blob must be that structure:
// an NTLM signature found anywhere else (beside a Kerberos token, say) would
// name a user the target never sees.
Result<std::string_view> spnegoNtlmToken(std::string_view blob) {
  auto bad = [] { return Result<std::string_view>(authError("malformed SPNEGO token")); };
  uint8_t tag = 0;
  std::string_view v, seq, item;
  std::string_view rest = blob;
  if (!derNext(rest, tag, v) || !rest.empty()) return bad();
  std::optional<std::string_view> token;
  if (tag == 0x60) {  // [APPLICATION 0] InitialContextToken
    std::string_view oid;
    if (!derNext(v, tag, oid) || tag != 0x06 || oid != kSpnegoOid) return bad();
    if (!derNext(v, tag, item) || tag != 0xa0 || !v.empty()) return bad();
    if (!derNext(item, tag, seq) || tag != 0x30 || !item.empty()) return bad();
    bool ntlmFirst = false;
    while (!seq.empty()) {
      if (!derNext(seq, tag, item)) return bad();
      if (tag == 0xa0) {  // mechTypes
        std::string_view types, first;
        if (!derNext(item, tag, types) || tag != 0x30) return bad();
        if (!derNext(types, tag, first) || tag != 0x06) return bad();
        ntlmFirst = first == kNtlmOid;
      } else if (tag == 0xa2) {  // mechToken
        std::string_view octets;
        if (!derNext(item, tag, octets) || tag != 0x04 || !item.empty()) return bad();
        token = octets;
      } else if (tag != 0xa1 && tag != 0xa3) {
        return bad();
      }
    }
    if (!ntlmFirst)
      return authError(
          "Negotiate without NTLM as its mechanism (Kerberos) is not supported: "
          "use NTLM, Basic or a client certificate");
  } else if (tag == 0xa1) {  // NegTokenResp
    if (!derNext(v, tag, seq) || tag != 0x30 || !v.empty()) return bad();
    while (!seq.empty()) {
      if (!derNext(seq, tag, item)) return bad();
      if (tag == 0xa1) {  // supportedMech
        std::string_view oid;
        if (!derNext(item, tag, oid) || tag != 0x06) return bad();
        if (oid != kNtlmOid) return authError("Negotiate with a mechanism other than NTLM");
      } else if (tag == 0xa2) {  // responseToken
        std::string_view octets;
        if (!derNext(item, tag, octets) || tag != 0x04 || !item.empty()) return bad();
        token = octets;
      } else if (tag != 0xa0 && tag != 0xa3) {
        return bad();
      }
    }
  } else {
    return bad();
  }
  if (!token) return authError("SPNEGO token without an NTLM message");
  return *token;
}

Result<ClientCredential> parseNtlm(std::string_view blob) {
  // A raw NTLMSSP message (signature first), or one inside SPNEGO.
  std::string_view m = blob;
  if (blob.substr(0, kNtlmSignature.size()) != kNtlmSignature) {
    if (blob.find(kNtlmSignature) == std::string_view::npos)
      return authError(
          "Negotiate without NTLM (Kerberos) is not supported: use NTLM, Basic or a "
          "client certificate");
    auto token = spnegoNtlmToken(blob);
    if (!token) return token.refusal();
    m = *token;
    if (m.substr(0, kNtlmSignature.size()) != kNtlmSignature)
      return authError("the SPNEGO token does not carry an NTLM message");
  }
  if (m.size() < 12) return authError("truncated NTLM message");
  uint32_t type = le32(m, 8);
  if (type == 1) {
    ClientCredential c;
    c.scheme = AuthScheme::NtlmNegotiate;
    return c;
  }
  if (type == 3) return parseNtlmAuthenticate(m);
  return authError("NTLM message of type " + std::to_string(type) + " from a client");
}

}  // namespace

std::string_view toString(AuthScheme s) {
  switch (s) {
    case AuthScheme::None:
      return "none";
    case AuthScheme::Basic:
      return "basic";
    case AuthScheme::NtlmNegotiate:
      return "ntlm-negotiate";
    case AuthScheme::NtlmAuthenticate:
      return "ntlm";
    case AuthScheme::CertificateMutual:
      return "certificate";
  }
  return "none";
}

Result<ClientCredential> parseNtlmAuthenticate(std::string_view m) {
  // Signature, type, six field descriptors and the flags: 64 bytes.
  if (m.size() < 64 || m.substr(0, 8) != kNtlmSignature || le32(m, 8) != 3)
    return authError("malformed NTLM AUTHENTICATE message");
  bool unicode = (le32(m, 60) & kNtlmNegotiateUnicode) != 0;
  std::string domain, user;
  if (!ntlmField(m, 28, unicode, domain) || !ntlmField(m, 36, unicode, user))
    return authError("malformed NTLM AUTHENTICATE message");
  auto c = accountName(AuthScheme::NtlmAuthenticate, user);
  if (!c) return c;
  if (c->domain.empty()) c->domain = domain;
  return c;
}

Status acceptAccountDomain(const ClientCredential& c, const std::vector<std::string>& accepted) {
  if (c.domain.empty()) return okStatus();
  for (const auto& d : accepted)
    if (iequals(c.domain, d)) return okStatus();
  std::string shown = printable(c.domain, 64);
  return authError(accepted.empty()
                       ? "the credentials name the domain '" + shown +
                             "', and no domain is accepted: use the bare user name, or list the "
                             "domain in [winrm] account_domains"
                       : "the credentials name the domain '" + shown +
                             "', which is not in [winrm] account_domains");
}

Result<ClientCredential> parseAuthorization(std::string_view value) {
  if (value.size() > kMaxAuthorizationBytes) return authError("Authorization header too large");
  value = trim(value);
  if (iequals(value, kMutualProfile)) {
    ClientCredential c;
    c.scheme = AuthScheme::CertificateMutual;
    return c;
  }
  auto sp = value.find_first_of(" \t");
  std::string_view scheme = value.substr(0, sp);
  std::string_view token =
      sp == std::string_view::npos ? std::string_view{} : trim(value.substr(sp));
  bool basic = iequals(scheme, "Basic");
  bool ntlm = iequals(scheme, "NTLM") || iequals(scheme, "Negotiate");
  if (!basic && !ntlm)
    return authError("authentication scheme '" + std::string(scheme.substr(0, 32)) +
                     "' is not supported: use Basic, NTLM or a client certificate");
  std::string decoded;
  if (token.empty() || !base64Decode(token, decoded)) return authError("malformed credentials");
  Result<ClientCredential> out = authError("malformed credentials");
  if (basic) {
    auto colon = decoded.find(':');
    if (colon != std::string::npos)
      out = accountName(AuthScheme::Basic, std::string_view(decoded).substr(0, colon));
  } else {
    out = parseNtlm(decoded);
  }
  OPENSSL_cleanse(decoded.data(), decoded.size());  // the password, or an NTLM response
  return out;
}

Result<Route> routeRequest(std::string_view requestTarget, std::string_view host,
                           std::string_view domain) {
  if (requestTarget.empty() || requestTarget[0] != '/')
    return invalid("target", "the request target must be a path (/TARGET/wsman)");
  if (!domain.empty()) {
    std::string_view name = host;
    if (!name.empty() && name[0] != '[') {
      if (auto colon = name.rfind(':'); colon != std::string_view::npos)
        name = name.substr(0, colon);
      if (!name.empty() && name.back() == '.') name.remove_suffix(1);
      if (name.size() > domain.size() + 1 && name[name.size() - domain.size() - 1] == '.' &&
          iequals(name.substr(name.size() - domain.size()), domain)) {
        std::string_view label = name.substr(0, name.size() - domain.size() - 1);
        if (label.find('.') == std::string_view::npos) {
          if (auto st = validateName(label, "target"); !st)
            return invalid("target", "the Host name does not name a target");
          return Route{std::string(label), std::string(requestTarget), true};
        }
      }
    }
  }
  std::string_view path = requestTarget.substr(0, requestTarget.find('?'));
  auto slash = path.find('/', 1);
  if (slash == std::string_view::npos)
    return invalid("target", "name the target in the path: /TARGET/wsman");
  std::string_view name = path.substr(1, slash - 1);
  if (auto st = validateName(name, "target"); !st)
    return invalid("target", "the first path segment is not a target name");
  return Route{std::string(name), std::string(requestTarget.substr(slash)), false};
}

Result<Route> routeToListenerTarget(std::string_view requestTarget, std::string_view target) {
  if (requestTarget.empty() || requestTarget[0] != '/')
    return invalid("target", "the request target must be a path (/wsman)");
  return Route{std::string(target), std::string(requestTarget), false};
}

}  // namespace jitgate
