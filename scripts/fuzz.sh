#!/usr/bin/env bash
# Builds every libFuzzer target (fuzz/fuzz_*.cpp) with clang in build-fuzz/ and runs each one for
# SECONDS seconds (default 60) on a temporary copy of its seed corpus, fuzz/corpus/<name without
# the fuzz_ prefix>/ (the repository is never modified). Fails when any target crashes, times
# out, runs out of memory or prints a sanitizer report. Crash inputs are kept in
# build-fuzz/fuzz-artifacts/<target>/.
#   scripts/fuzz.sh [SECONDS] [fuzz_NAME...]   (names restrict the run to those targets)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
secs=${1:-60}
shift || true
if ! [[ "$secs" =~ ^[0-9]+$ ]] || [ "$secs" -lt 1 ]; then
  echo "usage: scripts/fuzz.sh [SECONDS] [fuzz_NAME...]" >&2
  exit 2
fi
build=build-fuzz

shopt -s nullglob
sources=(fuzz/fuzz_*.cpp)
if [ ${#sources[@]} -eq 0 ]; then
  echo "fuzz.sh: no fuzz/fuzz_*.cpp targets" >&2
  exit 1
fi
targets=()
for src in "${sources[@]}"; do targets+=("$(basename "$src" .cpp)"); done
if [ $# -gt 0 ]; then
  for t in "$@"; do
    [ -f "fuzz/$t.cpp" ] || { echo "fuzz.sh: no target fuzz/$t.cpp" >&2; exit 2; }
  done
  targets=("$@")
fi

# The whole build gets coverage instrumentation (fuzzer-no-link) and the sanitizers, so libFuzzer
# sees edges inside the libraries, not only in the fuzz_*.cpp file.
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
CC=clang CXX=clang++ cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DWACONN_FUZZ=ON -DWACONN_TESTS=OFF -DWACONN_BENCH=OFF \
  -DCMAKE_C_FLAGS="-fsanitize=fuzzer-no-link $san" -DCMAKE_CXX_FLAGS="-fsanitize=fuzzer-no-link $san" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" >/dev/null
cmake --build "$build" --target "${targets[@]}" -j"$(nproc)"

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

failed=()
for t in "${targets[@]}"; do
  corpus_src="fuzz/corpus/${t#fuzz_}"
  work=$(mktemp -d "/tmp/waconn-fuzz-${t}.XXXXXX")
  if [ -d "$corpus_src" ]; then
    cp -R "$corpus_src/." "$work/"
  else
    echo "fuzz.sh: $t has no seed corpus at $corpus_src; starting empty" >&2
  fi
  artifacts="$root/$build/fuzz-artifacts/$t"
  mkdir -p "$artifacts"
  log="$work.log"
  echo "== $t: ${secs}s, $(find "$work" -type f | wc -l) seeds"
  rc=0
  "$build/bin/$t" "$work" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$artifacts/" >"$log" 2>&1 || rc=$?
  if [ "$rc" -ne 0 ] || grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|libFuzzer)|runtime error:|SUMMARY: ' "$log"; then
    echo "FAIL: $t (exit $rc); log: $log; artifacts: $artifacts" >&2
    tail -n 60 "$log" >&2
    failed+=("$t")
  else
    grep -E '^stat::(number_of_executed_units|peak_rss_mb)|^#[0-9]+.*DONE' "$log" || true
    rm -rf "$work" "$log"
  fi
done

if [ ${#failed[@]} -ne 0 ]; then
  echo "fuzz.sh: failed: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz.sh: all ${#targets[@]} targets ran ${secs}s each without findings"
