#!/usr/bin/env bash
# The tensor-core kernels on each cooperative-matrix extension, side by side in one run on the
# same device (docs/performance.md "KHR beside NV"): every chunked operator in fp16 at the
# shapes of fla's table, and dvk_linear in fp16, each timed with DVK_COOPMAT=nv and then
# DVK_COOPMAT=khr, back to back, ROUNDS times (default 2) so that drift shows. One JSON object
# per line on stdout: dvk bench's, with "coopmat" (the extension asked for) and "path" (the
# one the device gave: "none" where it lacks it) in front.
#   scripts/bench_coopmat.sh [path/to/dvk]       default: build-release/dvk, built first
set -euo pipefail
cd "$(dirname "$0")/.."
dvk=${1:-}
if [ -z "$dvk" ]; then
  scripts/deps.sh
  cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build build-release -j"$(nproc)" --target dvk >/dev/null
  dvk=build-release/dvk
fi
rounds=${ROUNDS:-2}

path_of() { # the extension a context gets with DVK_COOPMAT=$1
  DVK_COOPMAT=$1 "$dvk" devices --json | sed -n 's/.*"cooperative_matrix_path": "\([a-z]*\)".*/\1/p' |
    head -1
}
declare -A path
for ext in nv khr; do path[$ext]=$(path_of $ext); done

shape4="--B 4 --T 4096 --H 16 --K 128 --V 128"
shape1="--B 1 --T 16384 --H 16 --K 128 --V 128"
entries=()
for op in delta_rule gated_delta_rule kda rwkv7 linear_attn; do
  for shape in "$shape4" "$shape1"; do
    entries+=("$op $shape --mode chunk --dtype f16")
  done
done
entries+=("linear --M 4096 --N 4096 --K 4096 --dtype f16"
          "linear --M 16384 --N 2048 --K 8192 --dtype f16")
for ((r = 0; r < rounds; ++r)); do
  for args in "${entries[@]}"; do
    for ext in nv khr; do
      line=$(DVK_COOPMAT=$ext "$dvk" bench $args --json)
      echo "{\"coopmat\": \"$ext\", \"path\": \"${path[$ext]}\", ${line#\{}"
    done
  done
done
