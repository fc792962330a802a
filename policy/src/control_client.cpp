// The control socket's client: one bounded HTTP/1.1 exchange per call.
#include "jitgate/control_client.hpp"

#include <sys/un.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

namespace jitgate {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using Local = asio::local::stream_protocol;
using boost::system::errc::errc_t;

Refusal unreachable(std::string message) {
  return Refusal{RefusalCode::Unavailable, "", std::move(message)};
}

// Something answered, but not with a reply we can use.
Refusal notAnAnswer(std::string message) {
  return Refusal{RefusalCode::Unavailable, kNotAnAnswer, std::move(message)};
}

// What the person at the keyboard can do about a failed connect.
std::string connectHint(const beast::error_code& ec) {
  if (ec == errc_t::permission_denied || ec == errc_t::operation_not_permitted)
    return " (the socket is for root and the members of its group)";
  return " (is jitgated running? use --socket or $JITGATE_SOCKET)";
}

// Runs one asynchronous operation to its end. The exchange is sequential;
// it is asynchronous only because basic_stream's deadlines (expires_after)
// apply to asynchronous operations alone.
template <class Start>
beast::error_code runOne(asio::io_context& io, Start start) {
  beast::error_code result = asio::error::operation_aborted;
  start([&result](beast::error_code ec, auto&&...) { result = ec; });
  io.restart();
  io.run();
  return result;
}

RefusalCode codeFromName(std::string_view name, unsigned status) {
  for (auto c : {RefusalCode::InvalidArgument, RefusalCode::NotFound, RefusalCode::AlreadyExists,
                 RefusalCode::Forbidden, RefusalCode::PolicyViolation, RefusalCode::Conflict,
                 RefusalCode::Unavailable, RefusalCode::StoreUnavailable}) {
    if (refusalCodeName(c) == name) return c;
  }
  switch (status) {
    case 400:
    case 405:
    case 413:
    case 431:
      return RefusalCode::InvalidArgument;
    case 403:
      return RefusalCode::Forbidden;
    case 404:
      return RefusalCode::NotFound;
    case 409:
      return RefusalCode::Conflict;
    case 422:
      return RefusalCode::PolicyViolation;
    default:
      return RefusalCode::Unavailable;
  }
}

std::string stringMember(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

}  // namespace

Result<HttpReply> callApi(const std::string& socketPath, http::verb method,
                          const std::string& target, const std::string& jsonBody,
                          const CallLimits& limits) {
  if (socketPath.empty()) return unreachable("no control socket path given");
  // Checked here because asio::local's endpoint throws on a longer one.
  if (socketPath.size() >= sizeof(sockaddr_un::sun_path))
    return unreachable("cannot connect to " + socketPath + ": longer than " +
                       std::to_string(sizeof(sockaddr_un::sun_path) - 1) +
                       " bytes, the limit of a Unix socket path");

  asio::io_context io;
  beast::basic_stream<Local> stream(io);

  stream.expires_after(limits.timeout);
  auto ec = runOne(io, [&](auto handler) {
    stream.async_connect(Local::endpoint(socketPath), std::move(handler));
  });
  if (ec == beast::error::timeout)
    return unreachable("cannot connect to " + socketPath + ": no answer within " +
                       std::to_string(limits.timeout.count()) + " ms");
  if (ec)
    return unreachable("cannot connect to " + socketPath + ": " + ec.message() + connectHint(ec));

  http::request<http::string_body> req{method, target, 11};
  req.set(http::field::host, "localhost");
  req.set(http::field::user_agent, "jitctl");
  req.set(http::field::accept, "application/json, text/csv");
  if (!jsonBody.empty()) {
    req.set(http::field::content_type, "application/json");
    req.body() = jsonBody;
  }
  req.keep_alive(false);
  req.prepare_payload();

  stream.expires_after(limits.timeout);
  auto writeEc =
      runOne(io, [&](auto handler) { http::async_write(stream, req, std::move(handler)); });
  // The daemon answers a refused request line without reading the body and
  // closes: the send may then fail while its answer is waiting to be read.
  bool mayHaveAnswer =
      !writeEc || writeEc == asio::error::broken_pipe || writeEc == asio::error::connection_reset;
  if (writeEc == beast::error::timeout)
    return unreachable("sending to " + socketPath + ": no progress within " +
                       std::to_string(limits.timeout.count()) + " ms");
  if (!mayHaveAnswer) return unreachable("sending to " + socketPath + ": " + writeEc.message());

  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(limits.bodyLimit);
  stream.expires_after(limits.timeout);
  auto readEc = runOne(
      io, [&](auto handler) { http::async_read(stream, buffer, parser, std::move(handler)); });
  if (readEc) {
    if (writeEc) return unreachable("sending to " + socketPath + ": " + writeEc.message());
    if (readEc == beast::error::timeout)
      return unreachable("no answer from " + socketPath + " within " +
                         std::to_string(limits.timeout.count()) + " ms");
    if (readEc == http::error::body_limit)
      return notAnAnswer("the answer from " + socketPath + " is larger than " +
                         std::to_string(limits.bodyLimit / (1024 * 1024)) +
                         " MiB; narrow it (e.g. --since, --limit)");
    if (readEc.category() == beast::error_code(http::error::bad_version).category() ||
        readEc == http::error::partial_message)
      return notAnAnswer("malformed HTTP answer from " + socketPath + ": " + readEc.message() +
                         " (is that jitgated's control socket?)");
    return unreachable("reading the answer from " + socketPath + ": " + readEc.message());
  }

  beast::error_code ignored;
  stream.socket().shutdown(Local::socket::shutdown_both, ignored);

  auto& res = parser.get();
  HttpReply reply;
  reply.status = res.result_int();
  reply.contentType = std::string(res[http::field::content_type]);
  reply.body = std::move(res.body());
  return reply;
}

Refusal apiRefusal(const HttpReply& reply) {
  json::parse_options opts;
  opts.allow_invalid_utf8 = true;  // the message may quote bad input back
  boost::system::error_code ec;
  json::value v = json::parse(reply.body, ec, {}, opts);
  if (!ec) {
    const json::value* e = v.is_object() ? v.get_object().if_contains("error") : nullptr;
    if (e && e->is_object()) {
      const auto& eo = e->get_object();
      std::string message = stringMember(eo, "message");
      if (!message.empty())
        return Refusal{codeFromName(stringMember(eo, "code"), reply.status),
                       stringMember(eo, "field"), std::move(message)};
    }
  }
  // Not the API's error shape (a proxy in between, a daemon bug): show what
  // came, briefly.
  std::string text = "HTTP " + std::to_string(reply.status);
  auto reason = http::obsolete_reason(http::int_to_status(reply.status));
  if (!reason.empty() && reason != "<unknown-status>") text += " " + std::string(reason);
  std::string firstLine = reply.body.substr(0, reply.body.find_first_of("\r\n"));
  if (firstLine.size() > 200) firstLine = firstLine.substr(0, 200) + "...";
  if (!firstLine.empty()) text += ": " + firstLine;
  return Refusal{codeFromName("", reply.status), "", std::move(text)};
}

}  // namespace jitgate
