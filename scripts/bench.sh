#!/usr/bin/env bash
# The benchmark table of docs/performance.md: builds dvk (Release) and runs every entry on the
# default Vulkan device (DVK_DEVICE=N|NAME picks another), one JSON object per line on stdout.
#   scripts/bench.sh            the GPU table (shapes sized for a data-centre GPU)
#   scripts/bench.sh --cpu      the small lavapipe table, with the C reference beside it
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-release -j"$(nproc)" --target dvk >/dev/null
dvk=build-release/dvk

if [ "${1:-}" = "--cpu" ]; then
  for args in \
    "delta_rule --B 1 --T 1024 --H 4 --K 64 --V 64 --mode recurrent" \
    "delta_rule --B 1 --T 1024 --H 4 --K 64 --V 64 --mode chunk" \
    "gated_delta_rule --B 1 --T 1024 --H 4 --K 64 --V 64 --mode chunk" \
    "delta_rule --B 16 --T 1 --H 4 --K 64 --V 64 --mode recurrent" \
    "kda --B 1 --T 1024 --H 4 --K 64 --V 64 --mode recurrent" \
    "kda --B 1 --T 1024 --H 4 --K 64 --V 64 --mode chunk" \
    "kda --B 16 --T 1 --H 4 --K 64 --V 64" \
    "rwkv7 --B 1 --T 1024 --H 4 --K 64 --V 64 --mode recurrent" \
    "rwkv7 --B 1 --T 1024 --H 4 --K 64 --V 64 --mode chunk" \
    "rwkv7 --B 16 --T 1 --H 4 --K 64 --V 64" \
    "dplr --B 1 --T 1024 --H 4 --K 64 --V 64 --mode recurrent --readout key" \
    "dplr --B 1 --T 1024 --H 4 --K 64 --V 64 --mode chunk --readout key"; do
    $dvk bench $args --iters 10 --warmup 2 --reference --json
  done
  exit 0
fi

shape4="--B 4 --T 4096 --H 16 --K 128 --V 128"
shape1="--B 1 --T 16384 --H 16 --K 128 --V 128"
for op in delta_rule gated_delta_rule; do
  for shape in "$shape4" "$shape1"; do
    for dtype in f16 f32; do
      $dvk bench $op $shape --mode chunk --dtype $dtype --json
    done
  done
  for dtype in f32 f16; do
    $dvk bench $op --B 256 --T 1 --H 16 --K 128 --V 128 --mode recurrent --dtype $dtype --json
  done
done
$dvk bench delta_rule $shape4 --mode recurrent --json
$dvk bench delta_rule $shape1 --mode recurrent --json
$dvk bench delta_rule $shape4 --mode chunk --dtype f16 --stages --json
# KDA, RWKV-7 and the generalized rule (issue 4's shapes)
for op in kda rwkv7; do
  for shape in "$shape4" "$shape1"; do
    for dtype in f16 f32; do
      $dvk bench $op $shape --mode chunk --dtype $dtype --json
    done
    $dvk bench $op $shape --mode recurrent --json
  done
  $dvk bench $op --B 256 --T 1 --H 16 --K 128 --V 128 --json
  $dvk bench $op $shape4 --mode chunk --dtype f16 --stages --json
done
$dvk bench dplr --B 256 --T 1 --H 16 --K 128 --V 128 --json
# Linear attention (chunked), softmax attention in segments of 2048, and one Infini-attention
# segment step of 2048 tokens with a past memory (its D and DV are --K and --V)
for dtype in f16 f32; do
  $dvk bench linear_attn $shape4 --mode chunk --dtype $dtype --json
done
$dvk bench linear_attn $shape1 --mode chunk --dtype f16 --json
for dtype in f16 f32; do
  $dvk bench softmax_attn $shape4 --segment 2048 --dtype $dtype --json
done
for dtype in f16 f32; do
  for rule in "" --delta-rule; do
    $dvk bench infini_attn --B 4 --T 2048 --H 16 --K 128 --V 128 --dtype $dtype $rule --json
  done
done
# The rotary embedding alone, on the Infini step's q
for dtype in f16 f32; do
  $dvk bench rope --B 4 --T 2048 --H 16 --K 128 --V 128 --dtype $dtype --json
done
