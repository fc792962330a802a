// The control API's JSON shapes (docs/CONTROL_API.md) and the audit CSV.
// Decoders take untrusted bodies and refuse anything they do not know.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <string>
#include <vector>

#include "jitgate/engine.hpp"
#include "jitgate/model.hpp"
#include "jitgate/result.hpp"

namespace jitgate {

Result<Target> decodeTarget(const boost::json::object& o);
// The target name comes from the URL; an empty "ports" means OS defaults.
Result<Policy> decodePolicy(const boost::json::object& o, const std::string& target);
Result<GrantInput> decodeGrantInput(const boost::json::object& o);
Result<RequestInput> decodeRequestInput(const boost::json::object& o);
Result<User> decodeUser(const boost::json::object& o);

boost::json::object encode(const Target& t);
boost::json::object encode(const TargetView& v);
boost::json::object encode(const Policy& p);
boost::json::object encode(const Grant& g);
boost::json::object encode(const AccessRequest& r);
boost::json::object encode(const User& u);
boost::json::object encode(const AuditEntry& e);
boost::json::object encode(const NodeRecord& n);
boost::json::object encode(const Decision& d);
boost::json::object encode(const Refusal& r);

template <class T>
boost::json::array encodeAll(const std::vector<T>& items) {
  boost::json::array a;
  a.reserve(items.size());
  for (const auto& i : items) a.emplace_back(encode(i));
  return a;
}

// RFC 4180 (CRLF, quotes doubled) with cells that a spreadsheet would take
// for a formula (= + - @, tab, CR) prefixed with a single quote.
std::string csvCell(std::string_view s);
std::string auditToCsv(const std::vector<AuditEntry>& entries);

}  // namespace jitgate
