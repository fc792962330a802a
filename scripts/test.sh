#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite:
#   1. the normal build (gcc) and its tests, a benchmark smoke run, and the
#      Debian package built, checked, installed and purged;
#   2. an ASan+UBSan build (clang) of the same tests, which also builds the
#      libFuzzer targets, and a short fuzzing run of each.
# Run as root (tests create Unix users and need apt for setup).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${JOBS:-2}

bash scripts/setup-deps.sh

echo "== format (.clang-format)"
if ! git ls-files '*.cpp' '*.hpp' '*.h' '*.c' | xargs clang-format --dry-run --Werror; then
  echo "format: the files above differ from .clang-format (clang-format -i FILE)"
  exit 1
fi

echo "== build (gcc, RelWithDebInfo)"
# Prefix /usr: the same tree builds the Debian package (scripts/package_test.sh).
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DJITGATE_TESTS=ON -DJITGATE_BENCH=ON \
  -DCMAKE_INSTALL_PREFIX=/usr -DJITGATE_CUTOFF_PATH=/usr/libexec/jitgate-cutoff >/dev/null
cmake --build build -j"$jobs"
echo "== tests"
ctest --test-dir build --output-on-failure -j"$jobs" --timeout 300

echo "== benchmark smoke (figures: docs/BENCHMARKS.md)"
build/tests/bench/decision_bench --benchmark_min_time=0.01 --benchmark_filter='/100$' >/dev/null
build/tests/bench/grant_create_bench 50

echo "== Debian package (from the build tree above)"
bash scripts/package_test.sh build

echo "== build (clang, ASan+UBSan, libFuzzer targets)"
CC=clang-14 CXX=clang++-14 cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug \
  -DJITGATE_SANITIZE=ON -DJITGATE_FUZZ=ON -DJITGATE_TESTS=ON -DJITGATE_BENCH=OFF >/dev/null
cmake --build build-asan -j"$jobs"
echo "== tests under ASan+UBSan"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j"$jobs" --timeout 600

echo "== fuzz smoke (${FUZZ_SECONDS:-20} s each)"
for f in duration cidr request ssh_cert x509 auth_info ssh_login winrm_auth; do
  work=$(mktemp -d)
  cp tests/fuzz/corpus/"$f"/* "$work"/
  if ! build-asan/tests/fuzz/fuzz_"$f" -max_total_time="${FUZZ_SECONDS:-20}" -print_final_stats=1 \
      "$work" >"$work.log" 2>&1; then
    cat "$work.log"
    echo "fuzz_$f found a crash"
    exit 1
  fi
  echo "fuzz_$f: $(grep -E 'stat::number_of_executed_units' "$work.log")"
  rm -rf "$work" "$work.log"
done
echo "== all tests passed"
