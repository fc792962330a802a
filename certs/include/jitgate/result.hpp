// Refusals and results: every domain refusal has a stable code (one list, as
// OpenSSH's ssherr.h), the field it is about, and a human message.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace jitgate {

enum class RefusalCode {
  InvalidArgument,  // malformed input (field says which)
  NotFound,         // named object does not exist
  AlreadyExists,    // create of an existing object
  Forbidden,        // caller's role does not allow this
  PolicyViolation,  // well-formed but outside what the policy allows
  Conflict,         // state does not allow this (e.g. approving a denied request)
  Unavailable,      // store or dependency failed: deny
  // The store cannot be reached (PostgreSQL down): deny until it is back.
  StoreUnavailable,
};

std::string_view refusalCodeName(RefusalCode code);

struct Refusal {
  RefusalCode code;
  std::string field;  // the input field at fault; empty when not about one field
  std::string message;

  std::string describe() const;
};

inline Refusal invalid(std::string field, std::string message) {
  return {RefusalCode::InvalidArgument, std::move(field), std::move(message)};
}

// A value or a refusal. Small on purpose: std::expected is C++23.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}
  Result(Refusal refusal) : v_(std::move(refusal)) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  // By value: `for (auto& x : f().value())` must not dangle.
  T value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  const Refusal& refusal() const { return std::get<1>(v_); }

 private:
  std::variant<T, Refusal> v_;
};

struct Ok {};
using Status = Result<Ok>;
inline Status okStatus() { return Ok{}; }

}  // namespace jitgate
