// The names of the refusal codes and the text of a refusal.
#include "jitgate/result.hpp"

namespace jitgate {

std::string_view refusalCodeName(RefusalCode code) {
  switch (code) {
    case RefusalCode::InvalidArgument:
      return "invalid_argument";
    case RefusalCode::NotFound:
      return "not_found";
    case RefusalCode::AlreadyExists:
      return "already_exists";
    case RefusalCode::Forbidden:
      return "forbidden";
    case RefusalCode::PolicyViolation:
      return "policy_violation";
    case RefusalCode::Conflict:
      return "conflict";
    case RefusalCode::Unavailable:
      return "unavailable";
    case RefusalCode::StoreUnavailable:
      return "store_unavailable";
  }
  return "unknown";
}

std::string Refusal::describe() const {
  if (field.empty()) return message;
  return field + ": " + message;
}

}  // namespace jitgate
