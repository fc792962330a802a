// Shared test fixtures: temporary directories and an injected clock.
#pragma once

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>

#include "jitgate/clock.hpp"
#include "jitgate/timefmt.hpp"

namespace jitgate::testing {

// A directory under /tmp (short, for Unix socket paths), removed at the end.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/jgt.XXXXXX";
    if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

class FakeClock final : public Clock {
 public:
  explicit FakeClock(SysTime start) : now_(start) {}
  std::chrono::system_clock::time_point now() const override { return now_; }
  void set(SysTime t) { now_ = t; }
  void advance(std::chrono::system_clock::duration d) { now_ += d; }

 private:
  std::chrono::system_clock::time_point now_;
};

inline SysTime at(const char* rfc3339) { return parseTimestamp(rfc3339).value(); }

}  // namespace jitgate::testing
