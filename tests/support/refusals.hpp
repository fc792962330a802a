// A gtest assertion for refusals: the code, the field, and a distinctive
// part of the message.
#pragma once

#include <gtest/gtest.h>

#include <string_view>

#include "jitgate/result.hpp"

namespace jitgate::testing {

template <class T>
::testing::AssertionResult refused(const Result<T>& r, RefusalCode code, std::string_view field,
                                   std::string_view part = {}) {
  if (r.ok()) return ::testing::AssertionFailure() << "accepted";
  const Refusal& f = r.refusal();
  if (f.code != code)
    return ::testing::AssertionFailure() << "code " << refusalCodeName(f.code) << ", want "
                                         << refusalCodeName(code) << " (" << f.describe() << ")";
  if (f.field != field)
    return ::testing::AssertionFailure()
           << "field '" << f.field << "', want '" << field << "' (" << f.describe() << ")";
  if (!part.empty() && f.message.find(part) == std::string::npos)
    return ::testing::AssertionFailure() << "message '" << f.message << "' lacks '" << part << "'";
  return ::testing::AssertionSuccess();
}

}  // namespace jitgate::testing
