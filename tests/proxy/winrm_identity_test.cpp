// The WinRM front's identity (Basic, NTLM NEGOTIATE/AUTHENTICATE, the
// certificate profile) and target naming (path, Host under the domain).
#include "jitgate/proxy/winrm_identity.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "jitgate/ssh_wire.hpp"

namespace jitgate {
namespace {

std::string le16(uint16_t v) { return {char(v & 0xff), char(v >> 8)}; }
std::string le32(uint32_t v) { return le16(v & 0xffff) + le16(v >> 16); }
std::string utf16(std::string_view ascii) {
  std::string out;
  for (char c : ascii) out += le16(static_cast<uint8_t>(c));
  return out;
}

// An NTLM AUTHENTICATE message with the given domain and user (already
// encoded) and flags; responses are filler.
std::string ntlmAuthenticate(const std::string& domain, const std::string& user, uint32_t flags) {
  std::string lm(24, '\1'), nt(40, '\2'), ws = utf16("WS");
  std::string payload = lm + nt + domain + user + ws;
  uint32_t off = 72;  // 64 + version
  auto field = [&](size_t len) {
    std::string f = le16(static_cast<uint16_t>(len)) + le16(static_cast<uint16_t>(len)) + le32(off);
    off += static_cast<uint32_t>(len);
    return f;
  };
  std::string m = std::string("NTLMSSP\0", 8) + le32(3);
  m += field(lm.size());
  m += field(nt.size());
  m += field(domain.size());
  m += field(user.size());
  m += field(ws.size());
  m += le16(0) + le16(0) + le32(off);  // session key: empty
  m += le32(flags);
  m += std::string(8, '\0');
  return m + payload;
}

std::string header(const std::string& scheme, std::string_view raw) {
  return scheme + " " + base64Encode(raw);
}

std::string der(uint8_t tag, const std::string& content) {
  std::string out(1, static_cast<char>(tag));
  if (content.size() < 0x80) {
    out += static_cast<char>(content.size());
  } else {
    out += '\x82';
    out += static_cast<char>(content.size() >> 8);
    out += static_cast<char>(content.size() & 0xff);
  }
  return out + content;
}
const std::string kSpnegoOid("\x2b\x06\x01\x05\x05\x02", 6);
const std::string kNtlmOid("\x2b\x06\x01\x04\x01\x82\x37\x02\x02\x0a", 10);
const std::string kKerberosOid("\x2a\x86\x48\x86\xf7\x12\x01\x02\x02", 9);

std::string negTokenInit(const std::vector<std::string>& mechs, const std::string& token) {
  std::string types;
  for (const auto& m : mechs) types += der(0x06, m);
  std::string seq = der(0xa0, der(0x30, types)) + der(0xa2, der(0x04, token));
  return der(0x60, der(0x06, kSpnegoOid) + der(0xa0, der(0x30, seq)));
}

TEST(WinrmIdentity, BasicGivesTheUserAndKeepsNothingElse) {
  auto c = parseAuthorization(header("Basic", "alice:s3cret:with:colons"));
  ASSERT_TRUE(c) << c.refusal().describe();
  EXPECT_EQ(c->scheme, AuthScheme::Basic);
  EXPECT_EQ(c->user, "alice");
}

TEST(WinrmIdentity, BasicWindowsAccountFormsNameTheSameUser) {
  auto down = parseAuthorization(header("basic", "CORP\\alice:pw"));
  ASSERT_TRUE(down);
  EXPECT_EQ(down->user, "alice");
  EXPECT_EQ(down->domain, "CORP");
  auto upn = parseAuthorization(header("Basic", "alice@corp.example:pw"));
  ASSERT_TRUE(upn);
  EXPECT_EQ(upn->user, "alice");
  EXPECT_EQ(upn->domain, "corp.example");
}

TEST(WinrmIdentity, OnlyAcceptedDomainsRideABareNamesGrant) {
  std::vector<std::string> none, corp{"CORP", "corp.example"};
  auto bare = parseAuthorization(header("Basic", "alice:pw"));
  ASSERT_TRUE(bare);
  EXPECT_TRUE(acceptAccountDomain(*bare, none));
  auto evil = parseAuthorization(header("Basic", "EVIL\\alice:pw"));
  ASSERT_TRUE(evil);
  auto refused = acceptAccountDomain(*evil, none);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.refusal().field, "authorization");
  EXPECT_NE(refused.refusal().message.find("'EVIL', and no domain is accepted: use the bare user "
                                           "name, or list the domain in [winrm] account_domains"),
            std::string::npos)
      << refused.refusal().message;
  auto listed = acceptAccountDomain(*evil, corp);
  ASSERT_FALSE(listed);
  EXPECT_NE(listed.refusal().message.find("not in [winrm] account_domains"), std::string::npos);
  for (const char* ok : {"corp\\alice:pw", "alice@CORP.example:pw"}) {
    auto c = parseAuthorization(header("Basic", ok));
    ASSERT_TRUE(c);
    EXPECT_TRUE(acceptAccountDomain(*c, corp)) << ok;
  }
  auto realm = parseAuthorization(header("Basic", "alice@other.example:pw"));
  ASSERT_TRUE(realm);
  EXPECT_FALSE(acceptAccountDomain(*realm, corp));
  // NTLM's own domain field counts too.
  auto ntlm = parseAuthorization(header("NTLM", ntlmAuthenticate(utf16("EVIL"), utf16("bob"), 1)));
  ASSERT_TRUE(ntlm);
  EXPECT_FALSE(acceptAccountDomain(*ntlm, corp));
}

TEST(WinrmIdentity, BasicRefusals) {
  EXPECT_FALSE(parseAuthorization("Basic"));
  EXPECT_FALSE(parseAuthorization("Basic !!!!"));
  EXPECT_FALSE(parseAuthorization(header("Basic", "no-colon")));
  auto anon = parseAuthorization(header("Basic", ":pw"));
  ASSERT_FALSE(anon);
  EXPECT_NE(anon.refusal().message.find("anonymous"), std::string::npos);
  auto bad = parseAuthorization(header("Basic", "al ice:pw"));
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.refusal().field, "authorization");
  EXPECT_FALSE(parseAuthorization(header("Basic", "../etc:pw")));
}

TEST(WinrmIdentity, NtlmNegotiateIsAHandshakeLegWithoutUser) {
  std::string m = std::string("NTLMSSP\0", 8) + le32(1) + le32(0xa2088207);
  for (const char* scheme : {"NTLM", "Negotiate"}) {
    auto c = parseAuthorization(header(scheme, m));
    ASSERT_TRUE(c) << c.refusal().describe();
    EXPECT_EQ(c->scheme, AuthScheme::NtlmNegotiate);
    EXPECT_TRUE(c->user.empty());
  }
}

TEST(WinrmIdentity, NtlmAuthenticateUnicodeAndOem) {
  auto c = parseAuthorization(header("NTLM", ntlmAuthenticate(utf16("CORP"), utf16("bob"), 1)));
  ASSERT_TRUE(c) << c.refusal().describe();
  EXPECT_EQ(c->scheme, AuthScheme::NtlmAuthenticate);
  EXPECT_EQ(c->user, "bob");
  EXPECT_EQ(c->domain, "CORP");
  auto oem = parseAuthorization(header("Negotiate", ntlmAuthenticate("CORP", "carol", 0)));
  ASSERT_TRUE(oem) << oem.refusal().describe();
  EXPECT_EQ(oem->user, "carol");
  auto upn = parseNtlmAuthenticate(ntlmAuthenticate("", utf16("dave@corp.example"), 1));
  ASSERT_TRUE(upn);
  EXPECT_EQ(upn->user, "dave");
}

TEST(WinrmIdentity, NtlmInsideSpnegoIsFound) {
  // NegTokenResp { responseToken: the NTLM message }, as a client's second leg.
  std::string resp =
      der(0xa1, der(0x30, der(0xa2, der(0x04, ntlmAuthenticate(utf16("D"), utf16("erin"), 1)))));
  auto c = parseAuthorization(header("Negotiate", resp));
  ASSERT_TRUE(c) << c.refusal().describe();
  EXPECT_EQ(c->user, "erin");
}

TEST(WinrmIdentity, SpnegoInitWithNtlmFirstIsRead) {
  auto c = parseAuthorization(
      header("Negotiate", negTokenInit({kNtlmOid}, ntlmAuthenticate(utf16("D"), utf16("fay"), 1))));
  ASSERT_TRUE(c) << c.refusal().describe();
  EXPECT_EQ(c->user, "fay");
}

// An NTLM message placed anywhere but where SPNEGO carries its token would
// name a user to the bastion while the target authenticates someone else.
TEST(WinrmIdentity, NtlmHiddenOutsideTheTokenIsRefused) {
  auto fake = ntlmAuthenticate(utf16("D"), utf16("alice"), 1);
  // Kerberos chosen, a fake NTLM message hidden among the mechanism types.
  auto hidden = negTokenInit({kKerberosOid, kNtlmOid + fake}, std::string(40, 'K'));
  EXPECT_FALSE(parseAuthorization(header("Negotiate", hidden)));
  // Kerberos first, NTLM offered second, an NTLM token: not NTLM's exchange.
  EXPECT_FALSE(
      parseAuthorization(header("Negotiate", negTokenInit({kKerberosOid, kNtlmOid}, fake))));
  // Junk in front of a raw NTLM message, with either scheme.
  EXPECT_FALSE(parseAuthorization(header("NTLM", "junk" + fake)));
  EXPECT_FALSE(parseAuthorization(header("Negotiate", "junk" + fake)));
  // Bytes after a well-formed SPNEGO token.
  EXPECT_FALSE(parseAuthorization(header("Negotiate", negTokenInit({kNtlmOid}, fake) + "x")));
}

TEST(WinrmIdentity, NtlmRefusals) {
  auto m = ntlmAuthenticate(utf16("D"), utf16("bob"), 1);
  // Truncated: a field points past the end.
  EXPECT_FALSE(parseNtlmAuthenticate(m.substr(0, m.size() - 5)));
  EXPECT_FALSE(parseNtlmAuthenticate(m.substr(0, 63)));
  // Odd UTF-16 length.
  auto odd = ntlmAuthenticate(utf16("D"), utf16("bob") + "x", 1);
  EXPECT_FALSE(parseNtlmAuthenticate(odd));
  // Unpaired surrogate.
  EXPECT_FALSE(parseNtlmAuthenticate(ntlmAuthenticate("", le16(0xD800) + utf16("x"), 1)));
  // Anonymous (empty user).
  auto anon = parseNtlmAuthenticate(ntlmAuthenticate("", "", 1));
  ASSERT_FALSE(anon);
  EXPECT_NE(anon.refusal().message.find("anonymous"), std::string::npos);
  // Non-ASCII user names are not jitgate names.
  EXPECT_FALSE(parseNtlmAuthenticate(ntlmAuthenticate("", le16(0x00e9) + utf16("lise"), 1)));
  // A CHALLENGE from a client, and Kerberos.
  EXPECT_FALSE(parseAuthorization(header("NTLM", std::string("NTLMSSP\0", 8) + le32(2))));
  auto krb = parseAuthorization(header("Negotiate", "\x60\x82\x01\x00kerberos-ticket"));
  ASSERT_FALSE(krb);
  EXPECT_NE(krb.refusal().message.find("Kerberos"), std::string::npos);
}

TEST(WinrmIdentity, OtherSchemesAreRefusedByName) {
  auto k = parseAuthorization("Kerberos abc=");
  ASSERT_FALSE(k);
  EXPECT_NE(k.refusal().message.find("'Kerberos' is not supported"), std::string::npos);
  EXPECT_FALSE(parseAuthorization("CredSSP abc="));
  EXPECT_FALSE(parseAuthorization(""));
  EXPECT_FALSE(parseAuthorization(std::string(kMaxAuthorizationBytes + 1, 'A')));
}

TEST(WinrmIdentity, CertificateProfileNamesNoUser) {
  auto c = parseAuthorization("http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/mutual");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->scheme, AuthScheme::CertificateMutual);
  EXPECT_TRUE(c->user.empty());
}

TEST(WinrmRoute, FirstPathSegmentNamesTheTargetAndIsRemoved) {
  auto r = routeRequest("/vm1/wsman", "bastion:5985", "");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->target, "vm1");
  EXPECT_EQ(r->upstreamPath, "/wsman");
  EXPECT_FALSE(r->byHost);
  auto q = routeRequest("/10.0.0.5/wsman?PSVersion=5.1", "", "");
  ASSERT_TRUE(q);
  EXPECT_EQ(q->target, "10.0.0.5");
  EXPECT_EQ(q->upstreamPath, "/wsman?PSVersion=5.1");
}

TEST(WinrmRoute, HostUnderTheDomainNamesTheTarget) {
  auto r = routeRequest("/wsman", "VM1.Jit.Example:5986", "jit.example");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->target, "VM1");
  EXPECT_EQ(r->upstreamPath, "/wsman");
  EXPECT_TRUE(r->byHost);
  // Not under the domain: the path decides.
  auto p = routeRequest("/vm2/wsman", "vm1.other.example", "jit.example");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->target, "vm2");
  // Only one label below the domain.
  EXPECT_FALSE(routeRequest("/wsman", "a.vm1.jit.example", "jit.example"));
  // The domain itself names nothing.
  EXPECT_FALSE(routeRequest("/wsman", "jit.example", "jit.example"));
}

TEST(WinrmRoute, Refusals) {
  EXPECT_FALSE(routeRequest("http://vm1/wsman", "vm1", ""));  // absolute-form
  EXPECT_FALSE(routeRequest("*", "", ""));
  EXPECT_FALSE(routeRequest("/wsman", "", ""));  // no target segment
  EXPECT_FALSE(routeRequest("/", "", ""));
  EXPECT_FALSE(routeRequest("//wsman", "", ""));
  EXPECT_FALSE(routeRequest("/../wsman", "", ""));
  EXPECT_FALSE(routeRequest("/vm%31/wsman", "", ""));
  EXPECT_FALSE(routeRequest("/vm1?x=/wsman", "", ""));
  EXPECT_FALSE(routeRequest("/wsman", "bad_label!.jit.example", "jit.example"));
}

TEST(WinrmRoute, AListenerOfOneTargetsOwnNamesItAndKeepsThePath) {
  // What pywinrm's Session sends: /wsman, the bastion's own Host.
  auto r = routeToListenerTarget("/wsman", "win1");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->target, "win1");
  EXPECT_EQ(r->upstreamPath, "/wsman");
  EXPECT_FALSE(r->byHost);
  // The path names nothing there: it goes to the target as it is.
  auto p = routeToListenerTarget("/vm2/wsman?PSVersion=5.1", "win1");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->target, "win1");
  EXPECT_EQ(p->upstreamPath, "/vm2/wsman?PSVersion=5.1");
  EXPECT_FALSE(routeToListenerTarget("http://vm2/wsman", "win1"));  // absolute-form
  EXPECT_FALSE(routeToListenerTarget("*", "win1"));
  EXPECT_FALSE(routeToListenerTarget("", "win1"));
}

}  // namespace
}  // namespace jitgate
