#!/usr/bin/env bash
# The tiny RWKV-7 (tests/fixtures/tiny-rwkv7) on the CPU: `dvk generate --greedy` on lavapipe
# (fp32, fp16, bf16 weights; the prefill recurrent, the CPU default, and chunked) beside
# rwkv7_c_loop, the same model in plain single-threaded C (tools/rwkv7_c_loop). Two prompts:
# the README demo's (57 bytes) and that one 17 times over, space-separated (985 bytes); 128
# tokens each. Every configuration runs RUNS times (default 3) and the best prefill and the best
# decode speed are kept; the load average is printed before and after. It also checks that the
# C loop and dvk generate (fp32) write the same text. Needs a Release build:
#   cmake -S . -B build -DCMAKE_BUILD_TYPE=Release && cmake --build build -j2
# Usage: scripts/bench_rwkv7_cpu.sh [--runs N] [--build DIR]
# DVK_DEVICE picks the device (default llvmpipe, i.e. lavapipe, even beside a GPU); dvk generate
# sets LP_NUM_THREADS=0 on a CPU device unless it is set.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=3
build=build
while (($#)); do
  case $1 in
    --runs) runs=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    *) echo "usage: $0 [--runs N] [--build DIR]" >&2; exit 2 ;;
  esac
done
export DVK_DEVICE=${DVK_DEVICE:-llvmpipe}
model=tests/fixtures/tiny-rwkv7/tiny-rwkv-7v0-834K-FP32.bin
demo="Once upon a time, there was a little girl named Lily. She"
long=$demo
for _ in $(seq 16); do long+=" $demo"; done
tokens=128
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# best NAME CMD...: runs CMD $runs times, prints "best prefill, best decode" (tokens/s).
best() {
  local name=$1 p=0 d=0 i
  shift
  for ((i = 0; i < runs; ++i)); do
    "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
    p=$(awk -v b="$p" '/^prefill:/ { gsub(/\(/, "", $7); if ($7 + 0 > b) b = $7 } END { print b }' \
          "$tmp/$name.err")
    d=$(awk -v b="$d" '/^decode:/ { gsub(/\(/, "", $7); if ($7 + 0 > b) b = $7 } END { print b }' \
          "$tmp/$name.err")
  done
  printf '%s %s\n' "$p" "$d"
}

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
# Builds the kernels (the driver caches them on disk) so that no run below times compiling.
for dt in f32 f16 bf16; do
  "$build/dvk" generate --model "$model" --prompt "$demo" --tokens 2 --greedy --dtype "$dt" \
    >/dev/null 2>&1
done
"$build/dvk" generate --model "$model" --prompt "$long" --tokens 2 --greedy --mode chunk \
  >/dev/null 2>&1

printf '%-28s %-18s %18s %18s\n' "" prompt "prefill tokens/s" "decode tokens/s"
for which in demo long; do
  prompt=$demo
  [ "$which" = long ] && prompt=$long
  label="$which (${#prompt} bytes)"
  read -r p d < <(best c "$build/rwkv7_c_loop" --model "$model" --prompt "$prompt" \
                    --tokens "$tokens")
  printf '%-28s %-18s %18s %18s\n' "plain C, 1 thread, fp32" "$label" "$p" "$d"
  cp "$tmp/c.out" "$tmp/c_$which.out"
  for dt in f32 f16 bf16; do
    read -r p d < <(best "dvk_$dt" "$build/dvk" generate --model "$model" --prompt "$prompt" \
                      --tokens "$tokens" --greedy --dtype "$dt")
    printf '%-28s %-18s %18s %18s\n' "dvk generate, $dt" "$label" "$p" "$d"
    [ "$dt" = f32 ] && cp "$tmp/dvk_f32.out" "$tmp/dvk_$which.out"
  done
  read -r p d < <(best dvk_chunk "$build/dvk" generate --model "$model" --prompt "$prompt" \
                    --tokens "$tokens" --greedy --mode chunk)
  printf '%-28s %-18s %18s %18s\n' "dvk generate, f32, chunk" "$label" "$p" "$d"
  if cmp -s "$tmp/c_$which.out" "$tmp/dvk_$which.out"; then
    echo "  $which: the C loop's $tokens tokens equal dvk generate's"
  else
    echo "  $which: the C loop's tokens DIFFER from dvk generate's"
  fi
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
