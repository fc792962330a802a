// How the store's rows map to the model, in either SQL dialect: the SELECT
// column lists, the row readers and the JSON kept in some columns. Internal
// to the policy component (sql_store.cpp).
#pragma once

#include <boost/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "jitgate/store.hpp"
#include "sql_backend.hpp"

namespace jitgate::sql {

// The columns each reader expects, in its order.
extern const std::string kTargetSelect;
extern const std::string kPolicySelect;
extern const std::string kGrantSelect;
extern const std::string kRequestSelect;
extern const std::string kAuditSelect;
extern const std::string kUserSelect;
extern const std::string kCertificateSelect;  // as c, to join
extern const std::string kCaKeySelect;

Target readTarget(const SqlRow& s);
Result<Policy> readPolicy(const SqlRow& s);
Result<Grant> readGrant(const SqlRow& s);
Result<AccessRequest> readRequest(const SqlRow& s);
User readUser(const SqlRow& s);
AuditEntry readAudit(const SqlRow& s);
IssuedCertificate readCertificate(const SqlRow& s);
CaKeyRecord readCaKey(const SqlRow& s);

// The JSON columns: policies.rules, requests.ports, requests.grant_ids and
// users.keys. A column that no longer parses is a refusal (the file was
// altered), never a guess.
boost::json::array rulesToJson(const std::vector<PortRule>& rules);
boost::json::array portsToJson(const std::vector<RequestedPort>& ports);
std::string stringsToJson(const std::vector<std::string>& v);
std::vector<std::string> stringsFromJson(const std::string& text);  // [] when malformed
std::string keysToJson(const std::vector<SshPublicKey>& keys);

}  // namespace jitgate::sql
