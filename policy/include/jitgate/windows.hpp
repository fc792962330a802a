// The pure policy logic under the grant engine: whether a target can be
// enforced, whether a policy is valid, and the windows a request yields.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "jitgate/model.hpp"
#include "jitgate/result.hpp"

namespace jitgate {

// What is being planned: an admin's grant, or a request (which must also
// keep to the policy's minimum source prefix); refusals name the fields as
// in that body.
enum class FieldNames { Grant, Request };

// Why a request or grant cannot be had under a policy, or the windows it
// yields. Pure, so that it can be tested and fuzzed on its own.
Result<std::vector<Grant>> planWindows(const Policy* policy, const Target& target,
                                       const std::vector<RequestedPort>& ports, SysTime now,
                                       bool anySourceAllowed,
                                       FieldNames names = FieldNames::Request);
Status validatePolicy(const Policy& policy);
// Unsupported when JIT cannot be enforced; the reason says why.
std::optional<std::string> unsupportedReason(const Target& target);

// "port 22/tcp from 10.0.0.0/8 max PT1H; approval required", for the audit.
std::string describePolicy(const Policy& policy);

}  // namespace jitgate
