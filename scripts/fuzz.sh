#!/usr/bin/env bash
# The libFuzzer targets (tests/fuzz), built with clang under AddressSanitizer + UBSan (with
# LeakSanitizer) in build-fuzz/, each run for a bounded time from its seed corpus.
#   scripts/fuzz.sh [SECONDS]    seconds per target (default 60)
# What a run finds stays in build-fuzz/corpus/<target>/ (the seeds in tests/fuzz/corpus are
# only read); a crash, sanitizer report, leak or timeout is written to
# build-fuzz/artifacts/<target>-* and fails the script. Replay one with
#   build-fuzz/tests/fuzz/fuzz_<target> build-fuzz/artifacts/<file>
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
scripts/deps.sh
build=build-fuzz
CC=clang cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDVK_SANITIZE=ON \
  -DDVK_FUZZ=ON -DDVK_BUILD_TESTS=OFF -DDVK_BUILD_TOOLS=OFF -DDVK_BUILD_SAMPLES=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target fuzz_safetensors fuzz_rwkv7_bin
mkdir -p "$build/artifacts"
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
for target in safetensors rwkv7_bin; do
  mkdir -p "$build/corpus/$target"
  dict=()
  [ -f "tests/fuzz/$target.dict" ] && dict=(-dict="tests/fuzz/$target.dict")
  echo "fuzz.sh: fuzz_$target for ${seconds}s" >&2
  # -timeout: one input taking over 10 s is a hang; -rss_limit_mb: growth past 2 GiB a bug.
  rc=0
  "$build/tests/fuzz/fuzz_$target" "$build/corpus/$target" "tests/fuzz/corpus/$target" \
    "${dict[@]}" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
    -print_final_stats=1 -artifact_prefix="$build/artifacts/$target-" \
    >"$build/fuzz_$target.log" 2>&1 || rc=$?
  grep -E "^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::peak_rss_mb)|ERROR|SUMMARY" \
    "$build/fuzz_$target.log" >&2 || true
  if [ "$rc" -ne 0 ]; then
    echo "fuzz.sh: fuzz_$target failed ($rc); see $build/fuzz_$target.log, $build/artifacts/" >&2
    exit 1
  fi
done
