// Durations (ISO-8601 and short form) and RFC 3339 UTC timestamps.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "jitgate/result.hpp"

namespace jitgate {

using Seconds = std::chrono::seconds;
using SysTime = std::chrono::sys_seconds;

// Accepts ISO-8601 durations restricted to days and time (P1D, PT3H, PT30M,
// P1DT2H30M, PT90S) and the short form (90s, 30m, 3h, 1d, and concatenations
// such as 1h30m). Years, months and weeks are refused: their length in
// seconds is not fixed. Zero and negative durations are refused; the upper
// bound is 366 days so that arithmetic on it never overflows.
Result<Seconds> parseDuration(std::string_view text, std::string_view field = "duration");

// Canonical ISO-8601 form: PT3H, P1D, P1DT30M, PT90S -> PT1M30S.
std::string formatDurationIso(Seconds d);

// RFC 3339 timestamps with an explicit offset (Z or +hh:mm); fractional
// seconds are accepted and truncated. Converted to UTC.
Result<SysTime> parseTimestamp(std::string_view text, std::string_view field = "time");

// 2026-11-23T12:00:00Z
std::string formatTimestamp(SysTime t);
std::string formatTimestampMs(std::chrono::sys_time<std::chrono::milliseconds> t);

}  // namespace jitgate
