// jitctl's recording verbs (docs/RECORDINGS.md): recordings [search],
// replay, recording export and recording verify, on their own beside
// jitctl_main.cpp.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

#include "jitgate/cli_call.hpp"

namespace jitgate::cli {

// Adds the verbs to `app`; `on(sub, fn)` makes fn the action when sub is
// the command given.
void addRecordingVerbs(CLI::App& app, const Context& ctx,
                       const std::function<void(CLI::App*, std::function<int()>)>& on);

}  // namespace jitgate::cli
