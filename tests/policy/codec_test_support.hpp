// What the control API's codec tests share (codec_test.cpp,
// codec_encode_test.cpp): JSON from text, an object's keys, a real key.
#pragma once

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <set>
#include <string>
#include <string_view>

#include "../support/test_support.hpp"
#include "jitgate/json_input.hpp"
#include "jitgate/net.hpp"

namespace jitgate::codectest {

namespace json = boost::json;

inline json::object obj(std::string_view text) {
  auto r = parseJsonObject(text);
  EXPECT_TRUE(r.ok()) << text << ": " << (r.ok() ? "" : r.refusal().describe());
  return r.ok() ? *r : json::object{};
}

inline std::set<std::string> keys(const json::object& o) {
  std::set<std::string> out;
  for (const auto& kv : o) out.emplace(kv.key());
  return out;
}

inline Cidr cidr(const char* s) { return Cidr::parse(s).value(); }

// A real key (ssh-keygen -t ed25519) and the fingerprint ssh-keygen -l gives it.
inline constexpr const char* kKey =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPr8OVGwtQXclMQy/UgmcarVeesZtesfQTfd61HktBYH alice@laptop";
inline constexpr const char* kKeyFingerprint = "SHA256:vgMF90Qycf46z4Mu+yy1t9JlAn19QRZ/68jvqLoujzs";

}  // namespace jitgate::codectest
