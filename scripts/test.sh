#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite:
#   1. the normal build (gcc) and its tests, and a benchmark smoke run;
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

# ctest prints "Skipped" without gtest's reason: name each skipped test and why.
skipped_reasons() {
  awk '/^[0-9]+\/[0-9]+ Test: /{name=$3} /: Skipped$/{getline why; print "  " name ": " why}' \
    "$1/Testing/Temporary/LastTest.log" | sort -u
}
# A compiler cache (Debian's ccache) keyed on paths relative to this clone, so
# that a second clone or a second run rebuilds only what changed.
launcher=()
if command -v ccache >/dev/null; then
  export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1 CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-20G}
  launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  ccache -z >/dev/null
fi

echo "== build (gcc, RelWithDebInfo)"
# Line tables (-g1) are enough for backtraces and sanitizer reports, and cost a
# third less compile time than full debug info.
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DJITGATE_TESTS=ON -DJITGATE_BENCH=ON \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" \
  "${launcher[@]}" >/dev/null
cmake --build build -j"$jobs"
echo "== tests"
ctest --test-dir build --output-on-failure -j"$jobs" --timeout 300

if grep -q ': Skipped$' build/Testing/Temporary/LastTest.log; then
  echo "== skipped, and why:"
  skipped_reasons build
fi

echo "== benchmark smoke (figures: docs/BENCHMARKS.md)"
build/tests/bench/decision_bench --benchmark_min_time=0.01 --benchmark_filter='/100$' >/dev/null
build/tests/bench/grant_create_bench 50

echo "== build (clang, ASan+UBSan, libFuzzer targets)"
CC=clang-14 CXX=clang++-14 cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug \
  -DJITGATE_SANITIZE=ON -DJITGATE_FUZZ=ON -DJITGATE_TESTS=ON -DJITGATE_BENCH=OFF \
  -DCMAKE_CXX_FLAGS_DEBUG="-g1" -DCMAKE_C_FLAGS_DEBUG="-g1" "${launcher[@]}" >/dev/null
cmake --build build-asan -j"$jobs"
echo "== tests under ASan+UBSan"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j"$jobs" --timeout 600

if grep -q ': Skipped$' build-asan/Testing/Temporary/LastTest.log; then
  echo "== skipped under ASan+UBSan, and why:"
  skipped_reasons build-asan
fi

# Every tests/fuzz/fuzz_*.cpp, $jobs at a time, each for FUZZ_SECONDS.
echo "== fuzz smoke (${FUZZ_SECONDS:-20} s each, $jobs at a time)"
fuzz_one() {
  local f=$1 work
  work=$(mktemp -d)
  [ -d tests/fuzz/corpus/"$f" ] && cp tests/fuzz/corpus/"$f"/* "$work"/
  if ! build-asan/tests/fuzz/fuzz_"$f" -max_total_time="${FUZZ_SECONDS:-20}" -print_final_stats=1 \
      "$work" >"$work.log" 2>&1; then
    cat "$work.log"
    echo "fuzz_$f found a crash"
    return 1
  fi
  echo "fuzz_$f: $(grep -E 'stat::number_of_executed_units' "$work.log")"
  rm -rf "$work" "$work.log"
}
fuzzers=()
for src in tests/fuzz/fuzz_*.cpp; do
  f=$(basename "$src" .cpp)
  fuzzers+=("${f#fuzz_}")
done
pids=()
fuzz_failed=0
for f in "${fuzzers[@]}"; do
  fuzz_one "$f" &
  pids+=($!)
  if [ ${#pids[@]} -ge "$jobs" ]; then
    wait "${pids[0]}" || fuzz_failed=1
    pids=("${pids[@]:1}")
  fi
done
for p in "${pids[@]}"; do wait "$p" || fuzz_failed=1; done
[ "$fuzz_failed" = 0 ] || exit 1
[ ${#launcher[@]} -gt 0 ] && echo "== compiler cache: $(ccache -s | grep -E 'Hits|hit rate|cache hit' | head -2 | tr -s ' ' | tr '\n' ';')"
echo "== all tests passed"
