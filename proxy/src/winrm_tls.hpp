// The WinRM front's TLS: the HTTPS front's certificate (configured, or a
// self-signed one made on first start), the server and upstream contexts,
// and OpenSSL's errors as text.
#pragma once

#include <openssl/bio.h>

#include <boost/asio/ssl/context.hpp>
#include <string>

#include "jitgate/proxy/winrm_front.hpp"
#include "jitgate/result.hpp"

namespace jitgate {

std::string opensslError();  // the oldest queued OpenSSL error, and clears the queue
Refusal tlsError(const std::string& what);
std::string bioString(BIO* bio);  // a memory BIO's contents
bool isIpLiteral(const std::string& s);

// TLS 1.2 and later; asks for a client certificate (jitgate's client CA
// named) but decides after the handshake, so that a refusal is an HTTP answer.
Status configureServerTls(boost::asio::ssl::context& server, const WinrmTlsFiles& files,
                          const std::string& clientCaPem);
// Verifies the target against `caFile`, or the system's store when empty.
Status configureUpstreamTls(boost::asio::ssl::context& upstream, const std::string& caFile);

}  // namespace jitgate
