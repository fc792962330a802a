// What the X.509 CA's issuing (x509_ca.cpp) and checking (x509_verify.cpp)
// share: the CA's state, the fields a client certificate carries, and
// OpenSSL error and time helpers. Internal to the certs component.
#pragma once

#include <openssl/asn1.h>

#include <ctime>
#include <optional>
#include <string>
#include <string_view>

#include "jitgate/handle.hpp"
#include "jitgate/timefmt.hpp"
#include "jitgate/x509_ca.hpp"

namespace jitgate {

namespace detail {
struct X509AuthorityState {
  EvpPkeyPtr key;
  X509Ptr cert;
  // Holds only our CA certificate, so a successful X509_verify_cert means
  // the chain ends at us. Built once; OpenSSL locks it for concurrent use.
  X509StorePtr store;
  SysTime notAfter;  // of the CA certificate
};
}  // namespace detail

namespace x509 {

constexpr std::string_view kGrantUriPrefix = "urn:jitgate:grant:";
constexpr std::string_view kTargetUriPrefix = "urn:jitgate:target:";
constexpr std::string_view kUpnOid = "1.3.6.1.4.1.311.20.2.3";  // Microsoft UPN
constexpr std::string_view kCertificateField = "certificate";

// The OpenSSL error queue, oldest first, capped so a runaway queue cannot
// make a log line unbounded. Draining it also keeps stale errors out of the
// next operation's message.
std::string drainErrors();
// Users and grant ids: what survives a Windows account name, a URI and a
// log line unescaped.
bool isToken(std::string_view s);
bool isDomain(std::string_view s);
time_t toTimeT(SysTime t);
std::optional<SysTime> toSysTime(const ASN1_TIME* t);

}  // namespace x509
}  // namespace jitgate
