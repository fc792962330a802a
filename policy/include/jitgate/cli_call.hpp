// jitctl's calls to the control API (docs/CONTROL_API.md): one exchange over
// the control socket, its answer as JSON, and how a verb prints it.
#pragma once

#include <boost/json.hpp>
#include <functional>
#include <initializer_list>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "jitgate/control_client.hpp"

namespace jitgate::cli {

namespace json = boost::json;
using boost::beast::http::verb;

struct Context {
  std::string socket;
  bool json = false;  // print the API's JSON as it came
};

struct Answer {
  HttpReply reply;
  json::value value;  // null unless the answer is JSON
};

// One call; a non-2xx answer is the API's refusal.
Result<Answer> call(const Context& ctx, verb method, const std::string& target,
                    const std::string& body = {});

// "jitctl: <refusal>" on stderr; exit status 1.
int fail(const Refusal& r);
// A mistake on the command line that CLI11 cannot express (neither of two
// alternatives given): the exit status of CLI11's own usage errors (2).
int usage(const std::string& message);
// The answer's body as it came, ending in a newline.
void echo(const HttpReply& r);

using Render = std::function<int(std::ostream&, const json::value&)>;
// The shape of most verbs: one call, then the JSON as it came or a rendering.
int serve(const Context& ctx, verb method, const std::string& target, const std::string& body,
          const Render& render);

using Query = std::vector<std::pair<std::string, std::string>>;
// A listing's query: the filters given, in order; empty values are left out.
Query filters(std::initializer_list<std::pair<std::string_view, std::string_view>> given);
// A request target under /v1. Segments and query values are percent-encoded:
// a name from the command line must not be able to reshape the path.
std::string apiTarget(std::initializer_list<std::string_view> segments, const Query& query = {});

}  // namespace jitgate::cli
