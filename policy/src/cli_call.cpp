// jitctl's calls: one control-API exchange, its answer read as JSON, and
// the verbs' common shape (call, then the JSON as it came or a rendering).
#include "jitgate/cli_call.hpp"

#include <boost/url.hpp>
#include <iostream>

#include "jitgate/cli_render.hpp"

namespace jitgate::cli {

Result<Answer> call(const Context& ctx, verb method, const std::string& target,
                    const std::string& body) {
  auto reply = callApi(ctx.socket, method, target, body);
  if (!reply) return reply.refusal();
  if (reply->status < 200 || reply->status >= 300) return apiRefusal(*reply);
  Answer a{std::move(*reply), nullptr};
  if (a.reply.contentType.starts_with("application/json")) {
    // A name that came in as invalid UTF-8 can come back in an answer (an
    // audit detail): read it anyway, shown() replaces it.
    json::parse_options opts;
    opts.allow_invalid_utf8 = true;
    boost::system::error_code ec;
    a.value = json::parse(a.reply.body, ec, {}, opts);
    if (ec)
      return Refusal{RefusalCode::Unavailable, "",
                     "malformed JSON from " + ctx.socket + ": " + ec.message()};
  }
  return a;
}

int fail(const Refusal& r) {
  std::cerr << "jitctl: " << shown(r.describe()) << '\n';
  return 1;
}

// A mistake on the command line that CLI11 cannot express (neither of two
// alternatives given): the exit status of CLI11's own usage errors.
int usage(const std::string& message) {
  std::cerr << "jitctl: " << shown(message) << '\n';
  return 2;
}

void echo(const HttpReply& r) {
  std::cout << r.body;
  if (!r.body.empty() && r.body.back() != '\n') std::cout << '\n';
}

// The shape of most verbs: one call, then the JSON as it came or a rendering.
int serve(const Context& ctx, verb method, const std::string& target, const std::string& body,
          const Render& render) {
  auto a = call(ctx, method, target, body);
  if (!a) return fail(a.refusal());
  if (ctx.json) {
    echo(a->reply);
    return 0;
  }
  return render(std::cout, a->value);
}

// A request target under /v1. Segments and query values are percent-encoded:
// a name from the command line must not be able to reshape the path.
std::string apiTarget(std::initializer_list<std::string_view> segments, const Query& query) {
  boost::urls::url u;
  u.set_path("/v1");
  for (auto s : segments) u.segments().push_back(s);
  for (const auto& [k, v] : query) u.params().append({k, v});
  return std::string(u.buffer());
}

Query filters(std::initializer_list<std::pair<std::string_view, std::string_view>> given) {
  Query q;
  for (const auto& [name, value] : given)
    if (!value.empty()) q.emplace_back(name, value);
  return q;
}

}  // namespace jitgate::cli
