// Durations and timestamps. Hand-written because neither ISO-8601 durations
// nor strict RFC 3339 parsing is offered by the C++ or Debian libraries we
// use; both parsers are fuzzed (tests/fuzz).
#include "jitgate/timefmt.hpp"

#include <ctime>

namespace jitgate {
namespace {

constexpr int64_t kMaxDurationSeconds = 366LL * 24 * 3600;
constexpr size_t kMaxDurationText = 32;
constexpr size_t kMaxTimestampText = 40;

bool isDigit(char c) { return c >= '0' && c <= '9'; }

// Reads up to 9 digits; returns false when there is no digit or too many.
bool readNumber(std::string_view s, size_t& i, int64_t& out) {
  size_t start = i;
  int64_t v = 0;
  while (i < s.size() && isDigit(s[i])) {
    if (i - start >= 9) return false;
    v = v * 10 + (s[i] - '0');
    ++i;
  }
  if (i == start) return false;
  out = v;
  return true;
}

Refusal badDuration(std::string_view field, std::string_view text) {
  return invalid(std::string(field),
                 "'" + std::string(text) +
                     "' is not a duration: use ISO-8601 (PT30M, PT3H, P1D, P1DT12H) or the "
                     "short form (90s, 30m, 3h, 1d, 1h30m)");
}

Result<Seconds> finish(int64_t total, std::string_view field, std::string_view text) {
  if (total <= 0) return invalid(std::string(field), "duration must be greater than zero");
  if (total > kMaxDurationSeconds)
    return invalid(std::string(field), "duration '" + std::string(text) + "' exceeds 366 days");
  return Seconds(total);
}

Result<Seconds> parseIso(std::string_view s, std::string_view field) {
  // P[nD][T[nH][nM][nS]]
  size_t i = 1;
  int64_t total = 0;
  bool any = false, inTime = false;
  int lastRank = -1;  // D=0, H=1, M=2, S=3: each unit once, in order
  while (i < s.size()) {
    if (s[i] == 'T') {
      if (inTime) return badDuration(field, s);
      inTime = true;
      ++i;
      if (i == s.size()) return badDuration(field, s);  // "PT" with nothing after
      continue;
    }
    int64_t n = 0;
    if (!readNumber(s, i, n) || i >= s.size()) return badDuration(field, s);
    char unit = s[i++];
    int rank;
    int64_t mult;
    if (!inTime && unit == 'D') {
      rank = 0, mult = 86400;
    } else if (inTime && unit == 'H') {
      rank = 1, mult = 3600;
    } else if (inTime && unit == 'M') {
      rank = 2, mult = 60;
    } else if (inTime && unit == 'S') {
      rank = 3, mult = 1;
    } else {
      if (!inTime && (unit == 'Y' || unit == 'M' || unit == 'W'))
        return invalid(std::string(field),
                       "years, months and weeks have no fixed length: use days (P1D) or time "
                       "(PT3H)");
      return badDuration(field, s);
    }
    if (rank <= lastRank) return badDuration(field, s);
    lastRank = rank;
    total += n * mult;  // n < 1e9, mult <= 86400: no overflow in int64
    if (total > kMaxDurationSeconds) return finish(total, field, s);
    any = true;
  }
  if (!any) return badDuration(field, s);
  return finish(total, field, s);
}

Result<Seconds> parseShort(std::string_view s, std::string_view field) {
  size_t i = 0;
  int64_t total = 0;
  int lastRank = -1;
  while (i < s.size()) {
    int64_t n = 0;
    if (!readNumber(s, i, n) || i >= s.size()) return badDuration(field, s);
    int rank;
    int64_t mult;
    switch (s[i++]) {
      case 'd':
        rank = 0, mult = 86400;
        break;
      case 'h':
        rank = 1, mult = 3600;
        break;
      case 'm':
        rank = 2, mult = 60;
        break;
      case 's':
        rank = 3, mult = 1;
        break;
      default:
        return badDuration(field, s);
    }
    if (rank <= lastRank) return badDuration(field, s);
    lastRank = rank;
    total += n * mult;
    if (total > kMaxDurationSeconds) return finish(total, field, s);
  }
  return finish(total, field, s);
}

bool readFixed(std::string_view s, size_t pos, size_t len, int& out) {
  if (pos + len > s.size()) return false;
  int v = 0;
  for (size_t k = pos; k < pos + len; ++k) {
    if (!isDigit(s[k])) return false;
    v = v * 10 + (s[k] - '0');
  }
  out = v;
  return true;
}

}  // namespace

Result<Seconds> parseDuration(std::string_view text, std::string_view field) {
  if (text.empty()) return invalid(std::string(field), "duration is empty");
  if (text.size() > kMaxDurationText) return badDuration(field, text.substr(0, kMaxDurationText));
  if (text[0] == 'P') return parseIso(text, field);
  return parseShort(text, field);
}

std::string formatDurationIso(Seconds d) {
  int64_t s = d.count();
  if (s <= 0) return "PT0S";
  int64_t days = s / 86400, h = s % 86400 / 3600, m = s % 3600 / 60, sec = s % 60;
  std::string out = "P";
  if (days) out += std::to_string(days) + "D";
  if (h || m || sec) {
    out += "T";
    if (h) out += std::to_string(h) + "H";
    if (m) out += std::to_string(m) + "M";
    if (sec) out += std::to_string(sec) + "S";
  }
  return out;
}

Result<SysTime> parseTimestamp(std::string_view s, std::string_view field) {
  auto bad = [&](std::string why) {
    return invalid(std::string(field),
                   "'" + std::string(s.substr(0, kMaxTimestampText)) +
                       "' is not an RFC 3339 time (2026-11-23T14:00:00Z): " + why);
  };
  if (s.size() > kMaxTimestampText) return bad("too long");
  int Y, M, D, h, m, sec;
  if (!readFixed(s, 0, 4, Y) || s.size() < 19 || s[4] != '-' || !readFixed(s, 5, 2, M) ||
      s[7] != '-' || !readFixed(s, 8, 2, D) || (s[10] != 'T' && s[10] != 't') ||
      !readFixed(s, 11, 2, h) || s[13] != ':' || !readFixed(s, 14, 2, m) || s[16] != ':' ||
      !readFixed(s, 17, 2, sec))
    return bad("expected YYYY-MM-DDTHH:MM:SS");
  size_t i = 19;
  if (i < s.size() && s[i] == '.') {
    ++i;
    size_t start = i;
    while (i < s.size() && isDigit(s[i])) ++i;
    if (i == start || i - start > 9) return bad("bad fractional seconds");
  }
  if (i >= s.size()) return bad("missing time zone offset (Z or +hh:mm)");
  int offset = 0;
  if (s[i] == 'Z' || s[i] == 'z') {
    ++i;
  } else if (s[i] == '+' || s[i] == '-') {
    int oh, om;
    if (!readFixed(s, i + 1, 2, oh) || i + 3 >= s.size() || s[i + 3] != ':' ||
        !readFixed(s, i + 4, 2, om) || oh > 23 || om > 59)
      return bad("bad time zone offset");
    offset = (oh * 60 + om) * 60 * (s[i] == '-' ? -1 : 1);
    i += 6;
  } else {
    return bad("missing time zone offset (Z or +hh:mm)");
  }
  if (i != s.size()) return bad("trailing characters");
  using namespace std::chrono;
  year_month_day ymd{year{Y}, month{static_cast<unsigned>(M)}, day{static_cast<unsigned>(D)}};
  if (!ymd.ok()) return bad("no such date");
  if (Y < 1970) return bad("years before 1970 are not accepted");
  if (h > 23 || m > 59 || sec > 59) return bad("no such time of day");
  SysTime t = sys_days{ymd} + hours{h} + minutes{m} + seconds{sec} - seconds{offset};
  return t;
}

std::string formatTimestamp(SysTime t) {
  using namespace std::chrono;
  auto day = floor<days>(t);
  year_month_day ymd{day};
  hh_mm_ss<seconds> tod{t - day};
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02dZ", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(tod.hours().count()), static_cast<int>(tod.minutes().count()),
                static_cast<int>(tod.seconds().count()));
  return buf;
}

std::string formatTimestampMs(std::chrono::sys_time<std::chrono::milliseconds> t) {
  auto secs = std::chrono::floor<std::chrono::seconds>(t);
  auto ms = (t - secs).count();
  std::string s = formatTimestamp(secs);
  char frac[8];
  std::snprintf(frac, sizeof frac, ".%03d", static_cast<int>(ms));
  s.insert(s.size() - 1, frac);
  return s;
}

}  // namespace jitgate
