// libFuzzer: what the WinRM front reads before it forwards anything. The
// first byte picks the parser: an Authorization header value, a raw NTLM
// AUTHENTICATE message, target naming (request target and Host split at the
// first newline), or a whole request head through Beast and the strict rules.
// Each result is checked for what the front relies on: a named user is a
// valid jitgate name; a route names a valid target and keeps a path.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "jitgate/model.hpp"
#include "jitgate/proxy/http_rules.hpp"
#include "jitgate/proxy/winrm_identity.hpp"

namespace {

void checkUser(const jitgate::Result<jitgate::ClientCredential>& c) {
  if (!c) return;
  bool named =
      c->scheme == jitgate::AuthScheme::Basic || c->scheme == jitgate::AuthScheme::NtlmAuthenticate;
  if (named != !c->user.empty()) std::abort();
  if (named && !jitgate::validateName(c->user, "user")) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 4) {
    case 0:
      checkUser(jitgate::parseAuthorization(in));
      break;
    case 1:
      checkUser(jitgate::parseNtlmAuthenticate(in));
      break;
    case 2: {
      auto nl = in.find('\n');
      std::string_view target = in.substr(0, nl);
      std::string_view host = nl == std::string_view::npos ? std::string_view{} : in.substr(nl + 1);
      for (std::string_view domain : {std::string_view{}, std::string_view{"jit.example"}}) {
        auto r = jitgate::routeRequest(target, host, domain);
        if (!r) continue;
        if (!jitgate::validateName(r->target, "target")) std::abort();
        if (r->upstreamPath.empty() || r->upstreamPath[0] != '/') std::abort();
      }
      break;
    }
    case 3: {
      jitgate::HttpRequestParser p;
      p.header_limit(4096);
      p.body_limit(4096);
      std::string head;
      // In two pieces, as reads deliver it.
      size_t cut = in.size() / 2;
      auto h = jitgate::feedRequestHead(p, in.substr(0, cut), head, 4096, 4096);
      if (h.state == jitgate::HeadState::NeedMore) {
        std::string rest =
            std::string(in.substr(h.consumed, cut - h.consumed)) + std::string(in.substr(cut));
        h = jitgate::feedRequestHead(p, rest, head, 4096, 4096);
      }
      if (h.state == jitgate::HeadState::Done) {
        // What passed has no obs-fold and at most one Content-Length, and
        // never both framings.
        if (jitgate::hasObsFold(head)) std::abort();
        const auto& req = p.get();
        if (req.count(boost::beast::http::field::content_length) > 1) std::abort();
        if (req.count(boost::beast::http::field::content_length) &&
            req.count(boost::beast::http::field::transfer_encoding))
          std::abort();
        auto auth = req.find(boost::beast::http::field::authorization);
        if (auth != req.end()) checkUser(jitgate::parseAuthorization(auth->value()));
      }
      break;
    }
  }
  return 0;
}
