// jitctl recordings, replay, recording export|verify (jitctl_recordings.hpp).
#include "jitctl_recordings.hpp"

#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <iostream>
#include <memory>
#include <thread>

#include "jitgate/cli_render.hpp"
#include "jitgate/files.hpp"

namespace jitgate::cli {
namespace {

struct RecordingArgs {
  std::string id, user, target, grant, since, text, out;
  bool instant = false;
  double speed = 1.0;
  double idleLimit = 0;  // seconds; 0: pauses as recorded
};

Query filterQuery(const RecordingArgs& a) {
  Query q;
  if (!a.user.empty()) q.emplace_back("user", a.user);
  if (!a.target.empty()) q.emplace_back("target", a.target);
  if (!a.grant.empty()) q.emplace_back("grant", a.grant);
  if (!a.since.empty()) q.emplace_back("since", a.since);
  return q;
}

// Plays the output events to stdout, at their pace (or at once).
int replay(const Context& ctx, const RecordingArgs& a) {
  if (!(a.speed > 0 && a.speed <= 1000)) return usage("--speed: must be above 0, at most 1000");
  auto answer = call(ctx, verb::get, apiTarget({"recordings", a.id, "cast"}));
  if (!answer) return fail(answer.refusal());
  const std::string& cast = answer->reply.body;
  size_t eol = cast.find('\n');
  if (eol == std::string::npos) return fail(invalid("recording", "no asciicast v2 header"));
  double last = 0;
  std::string out;
  while (eol != std::string::npos) {
    size_t start = eol + 1;
    eol = cast.find('\n', start);
    std::string_view line(cast.data() + start,
                          (eol == std::string::npos ? cast.size() : eol) - start);
    if (line.empty()) continue;
    boost::system::error_code ec;
    auto ev = json::parse(line, ec);
    if (ec || !ev.is_array() || ev.as_array().size() != 3) continue;  // cut short by a crash
    const auto& e = ev.as_array();
    if (!e[0].is_number() || !e[1].is_string() || !e[2].is_string() || e[1].as_string() != "o")
      continue;
    double at = e[0].to_number<double>();
    if (!a.instant && at > last) {
      double pause = (at - last) / a.speed;
      if (a.idleLimit > 0 && pause > a.idleLimit) pause = a.idleLimit;
      std::cout.flush();
      std::this_thread::sleep_for(std::chrono::duration<double>(pause));
    }
    last = std::max(last, at);
    std::cout << std::string_view(e[2].as_string());
  }
  std::cout.flush();
  return 0;
}

int exportRecording(const Context& ctx, const RecordingArgs& a) {
  auto answer = call(ctx, verb::get, apiTarget({"recordings", a.id, "cast"}));
  if (!answer) return fail(answer.refusal());
  // What a session showed is as private as the session: 0600.
  if (auto st = writeFileAtomically(a.out, answer->reply.body, 0600); !st)
    return fail(invalid("-o", "cannot write " + st.refusal().message));
  std::cerr << "jitctl: recording " << shown(a.id) << " written to " << shown(a.out) << " ("
            << answer->reply.body.size() << " bytes)\n";
  return 0;
}

// Exit 0 intact, 1 altered (or unreadable), 3 incomplete.
int verify(const Context& ctx, const RecordingArgs& a) {
  auto answer = call(ctx, verb::get, apiTarget({"recordings", a.id, "verify"}));
  if (!answer) return fail(answer.refusal());
  if (ctx.json) echo(answer->reply);
  const auto& v = answer->value;
  std::string state = text(v, "state");
  std::string line = "recording " + text(v, "id") + ": " + state + " (" + text(v, "chunks") +
                     " chunks, " + text(v, "bytes") + " bytes, sha256 " + text(v, "digest") + ")";
  if (auto p = text(v, "problem"); !p.empty()) line += ": " + p;
  if (state == "intact") {
    if (!ctx.json) std::cout << shown(line) << '\n';
    return 0;
  }
  std::cerr << "jitctl: " << shown(line) << '\n';
  return state == "incomplete" ? 3 : 1;
}

}  // namespace

void addRecordingVerbs(CLI::App& app, const Context& ctx,
                       const std::function<void(CLI::App*, std::function<int()>)>& on) {
  auto a = std::make_shared<RecordingArgs>();
  auto filters = [a](CLI::App* sub) {
    sub->add_option("--user", a->user, "only this user's");
    sub->add_option("--target", a->target, "only on this target");
    sub->add_option("--grant", a->grant, "only under this grant");
    sub->add_option("--since", a->since, "started since: RFC 3339 time, or a duration (24h)");
  };

  auto* recordings = app.add_subcommand("recordings", "recorded SSH sessions, newest first");
  filters(recordings);
  auto* search = recordings->add_subcommand(
      "search", "where TEXT was on a recorded screen: recording, time offset, line");
  search->add_option("TEXT", a->text, "the text, as the screen showed it")->required();
  filters(search);
  auto runSearch = [&ctx, a] {
    Query q = filterQuery(*a);
    q.emplace_back("text", a->text);
    return serve(ctx, verb::get, apiTarget({"recordings", "search"}, q), {}, renderScreenHits);
  };
  on(search, runSearch);
  // Whichever of the two callbacks runs last, `recordings search` searches.
  on(recordings, [&ctx, a, search, runSearch] {
    if (search->parsed()) return runSearch();
    return serve(ctx, verb::get, apiTarget({"recordings"}, filterQuery(*a)), {}, renderRecordings);
  });

  auto* replayCmd = app.add_subcommand("replay", "play a recording to the terminal");
  replayCmd->add_option("ID", a->id, "recording id (jitctl recordings)")->required();
  replayCmd->add_flag("--instant", a->instant, "all at once, without the pauses");
  replayCmd->add_option("--speed", a->speed, "faster (2) or slower (0.5) than recorded");
  replayCmd->add_option("--idle-limit", a->idleLimit, "cut pauses longer than this (seconds)");
  on(replayCmd, [&ctx, a] { return replay(ctx, *a); });

  auto* recording = app.add_subcommand("recording", "one recording");
  recording->require_subcommand(1);
  auto* exp = recording->add_subcommand("export", "save the asciicast v2 file (mode 0600)");
  exp->add_option("ID", a->id, "recording id")->required();
  exp->add_option("-o", a->out, "the file to write")->required();
  on(exp, [&ctx, a] { return exportRecording(ctx, *a); });
  auto* ver = recording->add_subcommand(
      "verify",
      "check its hash chain and the digest in the audit log (0 intact, 1 altered, "
      "3 incomplete)");
  ver->add_option("ID", a->id, "recording id")->required();
  on(ver, [&ctx, a] { return verify(ctx, *a); });
}

}  // namespace jitgate::cli
