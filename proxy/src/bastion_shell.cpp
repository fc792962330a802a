// The bastion's command interface (bastion_shell.hpp): the tokeniser, one
// table row per verb (usage, arguments, handler), and each verb carried out
// as a control API call made as the jitgate user.
#include "bastion_shell.hpp"

#include <boost/json.hpp>
#include <charconv>
#include <map>
#include <sstream>

#include "jitgate/cli_call.hpp"
#include "jitgate/cli_render.hpp"
#include "jitgate/text.hpp"
#include "jitgate/timefmt.hpp"

namespace jitgate {

Result<std::vector<std::string>> tokenizeCommand(std::string_view line) {
  if (line.size() > kMaxCommandLine)
    return invalid("command", "longer than " + std::to_string(kMaxCommandLine) + " bytes");
  std::vector<std::string> words;
  std::string word;
  bool inWord = false;
  enum class Quote { None, Single, Double } quote = Quote::None;
  for (size_t i = 0; i < line.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(line[i]);
    if ((c < 0x20 && c != '\t') || c == 0x7f)
      return invalid("command", "control character at byte " + std::to_string(i));
    if (quote == Quote::Single) {
      if (c == '\'')
        quote = Quote::None;
      else
        word += static_cast<char>(c);
      continue;
    }
    if (quote == Quote::Double) {
      if (c == '"') {
        quote = Quote::None;
      } else if (c == '\\' && i + 1 < line.size() && (line[i + 1] == '"' || line[i + 1] == '\\')) {
        word += line[++i];
      } else {
        word += static_cast<char>(c);
      }
      continue;
    }
    if (c == ' ' || c == '\t') {
      if (inWord) {
        if (words.size() >= kMaxCommandWords)
          return invalid("command", "more than " + std::to_string(kMaxCommandWords) + " words");
        words.push_back(std::move(word));
        word.clear();
        inWord = false;
      }
      continue;
    }
    inWord = true;
    if (c == '\'') {
      quote = Quote::Single;
    } else if (c == '"') {
      quote = Quote::Double;
    } else if (c == '\\') {
      if (i + 1 >= line.size()) return invalid("command", "a backslash ends the line");
      word += line[++i];
    } else {
      word += static_cast<char>(c);
    }
  }
  if (quote != Quote::None) return invalid("command", "a quote is not closed");
  if (inWord) {
    if (words.size() >= kMaxCommandWords)
      return invalid("command", "more than " + std::to_string(kMaxCommandWords) + " words");
    words.push_back(std::move(word));
  }
  return words;
}

namespace {

namespace json = boost::json;
using boost::beast::http::verb;
using cli::text;

constexpr int kRefused = 1;
constexpr int kMalformed = 2;

struct Args {
  std::vector<std::string> words;  // after the verb
  std::map<std::string, std::vector<std::string>, std::less<>> options;
  bool json = false;

  const std::string* one(std::string_view name) const {
    auto it = options.find(name);
    return it == options.end() ? nullptr : &it->second.front();
  }
  bool has(std::string_view name) const { return options.count(name) != 0; }
};

// One command being served.
struct Command {
  ControlApi& api;
  const ShellUser& user;
  Caller caller;
  ShellAnswer answer;

  void fail(int status, const std::string& why) {
    answer.err += "jitgate: " + printable(why, 1024) + "\n";
    answer.exitStatus = status;
  }
  void malformed(const Refusal& r) {
    fail(kMalformed, r.field.empty() ? r.message : r.field + ": " + r.message);
  }
  // One control API call as the user; nullopt (and the refusal told) when
  // it was refused.
  std::optional<json::value> call(verb method, const std::string& target, const json::object* body,
                                  bool json) {
    auto r = api.handle(method, target, body ? json::serialize(*body) : "", caller);
    boost::system::error_code ec;
    json::value v = json::parse(r.body, ec);
    if (!ec && r.status >= 200 && r.status < 300) return v;
    std::string why = "the daemon's answer could not be read";
    if (!ec) {
      if (const json::value* e = cli::member(v, "error")) {
        std::string field = text(*e, "field"), message = text(*e, "message");
        why = field.empty() ? message : field + ": " + message;
      }
      if (json) answer.out += json::serialize(v) + "\n";
    }
    fail(kRefused, why);
    return std::nullopt;
  }
  void print(const json::value& v) { answer.out += json::serialize(v) + "\n"; }
};

using Handler = void (*)(Command&, const Args&);

struct Verb {
  std::string_view name;
  std::string_view usage;
  std::string_view summary;
  size_t minWords, maxWords;
  // The options it takes, comma-separated: "name=" takes a value, "name=*"
  // may be given more than once, "name" is a flag. --json is always known.
  std::string_view options;
  Handler handler;
};

// --- Values -----------------------------------------------------------------

Result<uint16_t> portNumber(const std::string& s) {
  unsigned v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v < 1 || v > 65535)
    return invalid("--port", "'" + printable(s, 16) + "' is not a port number (1..65535)");
  return static_cast<uint16_t>(v);
}

Status nameArg(const std::string& s, const char* what) { return validateName(s, what); }

// --- Verbs ------------------------------------------------------------------

void whoami(Command& c, const Args& a) {
  json::array roles;
  for (const auto& r : c.user.roles.names()) roles.emplace_back(r);
  if (a.json)
    return c.print(json::object{
        {"user", c.user.name}, {"roles", roles}, {"source", c.user.source.toString()}});
  std::string names;
  for (const auto& r : c.user.roles.names()) names += (names.empty() ? "" : ", ") + r;
  c.answer.out += c.user.name + " (roles: " + (names.empty() ? "none" : names) + ") from " +
                  c.user.source.toString() + "\n";
}

void help(Command& c, const Args& a);

void targets(Command& c, const Args& a) {
  auto v = c.call(verb::get, cli::apiTarget({"policies"}), nullptr, a.json);
  if (!v) return;
  if (a.json) return c.print(*v);
  std::vector<cli::Row> rows;
  for (const auto& p : cli::items(&*v)) {
    for (const auto& r : cli::items(p, "ports"))
      rows.push_back({text(p, "target"), text(r, "number"), text(r, "allowedSourceAddressPrefixes"),
                      text(r, "maxRequestAccessDuration"),
                      cli::isTrue(p, "requireApproval") ? "required" : "no"});
  }
  std::ostringstream out;
  cli::printTable(out, {"TARGET", "PORT", "SOURCES", "MAX", "APPROVAL"}, rows);
  c.answer.out += out.str();
}

void request(Command& c, const Args& a) {
  const std::string& target = a.words[0];
  if (auto st = nameArg(target, "target"); !st) return c.malformed(st.refusal());
  auto forIt = a.one("for");
  auto untilIt = a.one("until");
  if (!a.has("port")) return c.malformed(invalid("--port", "give the port (--port N)"));
  if ((forIt != nullptr) == (untilIt != nullptr))
    return c.malformed(invalid("--for", "give either --for DURATION or --until TIME"));
  const std::string* justification = a.one("justification");
  if (!justification)
    return c.malformed(invalid("--justification", "say why (--justification TEXT)"));
  if (auto st = validateText(*justification, "--justification", 512, true); !st)
    return c.malformed(st.refusal());
  std::string source = c.user.source.toString();
  if (auto from = a.one("from")) {
    auto cidr = Cidr::parse(*from, "--from");
    if (!cidr) return c.malformed(cidr.refusal());
    source = cidr->toString();
  }
  json::object window;
  if (forIt) {
    auto d = parseDuration(*forIt, "--for");
    if (!d) return c.malformed(d.refusal());
    window["duration"] = formatDurationIso(*d);
  } else {
    auto t = parseTimestamp(*untilIt, "--until");
    if (!t) return c.malformed(t.refusal());
    window["endTimeUtc"] = formatTimestamp(*t);
  }
  json::array ports;
  for (const auto& p : a.options.at("port")) {
    auto n = portNumber(p);
    if (!n) return c.malformed(n.refusal());
    json::object po = window;
    po["number"] = *n;
    po["source"] = source;
    ports.push_back(std::move(po));
  }
  json::object body{
      {"target", target}, {"ports", std::move(ports)}, {"justification", *justification}};
  auto v = c.call(verb::post, cli::apiTarget({"requests"}), &body, a.json);
  if (!v) return;
  if (a.json) return c.print(*v);
  std::string id = text(*v, "id");
  if (text(*v, "state") == "pending") {
    c.answer.out += "request " + id + " is pending approval\n";
    return;
  }
  c.answer.out +=
      "request " + id + " is " + text(*v, "state") + "; grants " + text(*v, "grants") + "\n";
}

void requests(Command& c, const Args& a) {
  cli::Query q;
  if (a.has("pending")) q.emplace_back("state", "pending");
  auto v = c.call(verb::get, cli::apiTarget({"requests"}, q), nullptr, a.json);
  if (!v) return;
  if (a.json) return c.print(*v);
  std::ostringstream out;
  cli::renderRequests(out, *v);
  c.answer.out += out.str();
}

void grants(Command& c, const Args& a) {
  cli::Query q;
  if (!a.has("all")) q.emplace_back("active", "true");
  auto v = c.call(verb::get, cli::apiTarget({"grants"}, q), nullptr, a.json);
  if (!v) return;
  if (a.json) return c.print(*v);
  std::ostringstream out;
  cli::renderGrants(out, *v);
  c.answer.out += out.str();
}

void revoke(Command& c, const Args& a) {
  if (auto st = nameArg(a.words[0], "grant"); !st) return c.malformed(st.refusal());
  auto v = c.call(verb::post, cli::apiTarget({"grants", a.words[0], "revoke"}), nullptr, a.json);
  if (!v) return;
  if (a.json) return c.print(*v);
  c.answer.out += "grant " + text(*v, "id") + " is " + text(*v, "state") + "\n";
}

void extend(Command& c, const Args& a) {
  if (auto st = nameArg(a.words[0], "grant"); !st) return c.malformed(st.refusal());
  auto d = parseDuration(a.words[1], "duration");
  if (!d) return c.malformed(d.refusal());
  json::object body{{"duration", formatDurationIso(*d)}};
  auto v = c.call(verb::post, cli::apiTarget({"grants", a.words[0], "extend"}), &body, a.json);
  if (!v) return;
  if (a.json) return c.print(*v);
  c.answer.out += "grant " + text(*v, "id") + " now ends at " + text(*v, "endTimeUtc") + "\n";
}

void approve(Command& c, const Args& a) {
  if (auto st = nameArg(a.words[0], "request"); !st) return c.malformed(st.refusal());
  auto v = c.call(verb::post, cli::apiTarget({"requests", a.words[0], "approve"}), nullptr, a.json);
  if (!v) return;
  if (a.json) return c.print(*v);
  std::ostringstream out;
  cli::renderDecided(out, *v);
  c.answer.out += out.str();
}

void deny(Command& c, const Args& a) {
  if (auto st = nameArg(a.words[0], "request"); !st) return c.malformed(st.refusal());
  json::object body;
  if (auto reason = a.one("reason")) {
    if (auto st = validateText(*reason, "--reason", 512, false); !st)
      return c.malformed(st.refusal());
    body["reason"] = *reason;
  }
  auto v = c.call(verb::post, cli::apiTarget({"requests", a.words[0], "deny"}), &body, a.json);
  if (!v) return;
  if (a.json) return c.print(*v);
  std::ostringstream out;
  cli::renderDecided(out, *v);
  c.answer.out += out.str();
}

// clang-format off
constexpr Verb kVerbs[] = {
    {"help",     "help",                                      "this list",                                   0, 0, "",                                    help},
    {"whoami",   "whoami",                                    "who the bastion takes you for, and from where", 0, 0, "",                                  whoami},
    {"targets",  "targets",                                   "what you may request: ports, sources, maximum window, approval", 0, 0, "",                   targets},
    {"request",  "request TARGET --port N --for DURATION [--from CIDR] --justification TEXT",
                                                              "ask for a window (the source defaults to your address)", 1, 1,
                                                              "port=*,for=,until=,from=,justification=",                                                    request},
    {"requests", "requests [--pending]",                      "your requests (approvers: --pending, everyone's)", 0, 0, "pending",                         requests},
    {"grants",   "grants [--all]",                            "your active grants (--all: ended ones too)",  0, 0, "all",                                 grants},
    {"revoke",   "revoke GRANT",                              "end one of your grants now",                  1, 1, "",                                    revoke},
    {"extend",   "extend GRANT DURATION",                     "move the end of one of your grants, within the policy", 2, 2, "",                         extend},
    {"approve",  "approve REQUEST",                           "approve a pending request (approvers)",       1, 1, "",                                    approve},
    {"deny",     "deny REQUEST [--reason TEXT]",              "deny a pending request (approvers)",          1, 1, "reason=",                             deny},
};
// clang-format on

void help(Command& c, const Args& a) {
  if (a.json) {
    json::array out;
    for (const auto& v : kVerbs)
      out.push_back(json::object{{"verb", v.name}, {"usage", v.usage}, {"summary", v.summary}});
    return c.print(out);
  }
  c.answer.out += BastionShell::help();
}

// Whether `name` is among a verb's options; `value` and `repeat` say how.
bool optionSpec(std::string_view spec, std::string_view name, bool& value, bool& repeat) {
  while (!spec.empty()) {
    auto comma = spec.find(',');
    auto item = spec.substr(0, comma);
    spec = comma == std::string_view::npos ? std::string_view() : spec.substr(comma + 1);
    auto eq = item.find('=');
    if (item.substr(0, eq) != name) continue;
    value = eq != std::string_view::npos;
    repeat = value && item.substr(eq + 1) == "*";
    return true;
  }
  return false;
}

// The words after the verb: positional words and options, each checked
// against the verb's row.
Result<Args> parseArgs(const Verb& v, const std::vector<std::string>& words) {
  Args a;
  bool optionsEnded = false;
  for (size_t i = 1; i < words.size(); ++i) {
    const std::string& w = words[i];
    if (optionsEnded || w.size() < 2 || w.compare(0, 2, "--") != 0) {
      if (!optionsEnded && w.size() > 1 && w[0] == '-')
        return invalid(printable(w, 32), "unknown option of " + std::string(v.name));
      a.words.push_back(w);
      continue;
    }
    if (w == "--") {
      optionsEnded = true;
      continue;
    }
    std::string name = w.substr(2);
    std::optional<std::string> inlineValue;
    if (auto eq = name.find('='); eq != std::string::npos) {
      inlineValue = name.substr(eq + 1);
      name.resize(eq);
    }
    if (name == "json" && !inlineValue) {
      a.json = true;
      continue;
    }
    bool takesValue = false, repeat = false;
    if (!optionSpec(v.options, name, takesValue, repeat))
      return invalid("--" + printable(name, 32), "unknown option of " + std::string(v.name));
    if (!takesValue && inlineValue) return invalid("--" + name, "takes no value");
    if (a.options.count(name) && !repeat) return invalid("--" + name, "given twice");
    std::string value;
    if (takesValue) {
      if (inlineValue) {
        value = *inlineValue;
      } else {
        if (i + 1 >= words.size()) return invalid("--" + name, "needs a value");
        value = words[++i];
      }
    }
    a.options[name].push_back(std::move(value));
  }
  if (a.words.size() < v.minWords || a.words.size() > v.maxWords)
    return invalid(std::string(v.name), "usage: " + std::string(v.usage));
  return a;
}

}  // namespace

std::string BastionShell::help() {
  std::string out = "jitgate's command interface; every command takes --json.\n";
  for (const auto& v : kVerbs)
    out += "  " + std::string(v.usage) + "\n      " + std::string(v.summary) + "\n";
  return out;
}

ShellAnswer BastionShell::run(const ShellUser& user, std::string_view line) {
  Command c{api_, user, Caller{}, ShellAnswer{}};
  c.caller.name = user.name;
  c.caller.roles = user.roles;
  auto words = tokenizeCommand(line);
  if (!words) {
    c.malformed(words.refusal());
  } else if (words->empty()) {
    c.fail(kMalformed, "no command given; try 'help'");
  } else {
    const Verb* verb = nullptr;
    for (const auto& v : kVerbs)
      if (v.name == (*words)[0]) verb = &v;
    if (!verb) {
      c.fail(kMalformed, "'" + printable((*words)[0], 32) +
                             "' is not a command of the bastion (try 'help'); for a shell on a "
                             "target, log in as " +
                             user.name + "@TARGET");
    } else if (auto args = parseArgs(*verb, *words); !args) {
      c.malformed(args.refusal());
    } else {
      verb->handler(c, *args);
    }
  }
  AuditEntry e;
  e.actor = user.name;
  e.user = user.name;
  e.action = "bastion.command";
  e.outcome = c.answer.exitStatus == 0 ? "ok" : "denied";
  e.source = user.source.toString();
  e.detail = "exit=" + std::to_string(c.answer.exitStatus) + " " + std::string(line);
  api_.audit(std::move(e));
  return std::move(c.answer);
}

}  // namespace jitgate
