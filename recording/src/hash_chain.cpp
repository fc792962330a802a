// SHA-256 links of a recording's chunks (hash_chain.hpp).
#include "jitgate/recording/hash_chain.hpp"

#include <openssl/evp.h>

#include <cstdlib>
#include <stdexcept>

#include "jitgate/handle.hpp"

namespace jitgate {
namespace {

void digest(std::array<unsigned char, 32>& h, std::string_view a, std::string_view b) {
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  unsigned int len = 0;
  // A failing SHA-256 would be an OpenSSL that cannot run at all: loudly.
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), a.data(), a.size()) != 1 ||
      EVP_DigestUpdate(ctx.get(), b.data(), b.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), h.data(), &len) != 1 || len != h.size())
    std::abort();
}

}  // namespace

HashChain::HashChain(std::string_view recordingId) {
  digest(h_, "jitgate-recording-v1\n", recordingId);
}

void HashChain::add(std::string_view chunk) {
  auto prev = h_;
  digest(h_, std::string_view(reinterpret_cast<const char*>(prev.data()), prev.size()), chunk);
  ++links_;
}

std::string HashChain::hex() const {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(64);
  for (unsigned char c : h_) {
    out += kHex[c >> 4];
    out += kHex[c & 0xF];
  }
  return out;
}

}  // namespace jitgate
