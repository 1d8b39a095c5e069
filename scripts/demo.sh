#!/usr/bin/env bash
# The main demo: installs what is missing, builds the dvk tool, and has the tiny trained RWKV-7
# (tests/fixtures/tiny-rwkv7: 834K parameters, bytes as tokens) continue a prompt on the default
# Vulkan device — lavapipe when there is no GPU; DVK_DEVICE=N|NAME picks another. It prints the
# text as it comes, then what ran where (model file, weight dtype, device) and how fast (prefill
# and decode tokens/s). Arguments replace the generation options, e.g.
#   ./scripts/demo.sh --prompt "The sun" --tokens 64 --temperature 0.7 --top-k 3 --seed 1
# (--model M runs another RWKV-7 file; `build/dvk generate --help` lists the options).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target dvk >/dev/null

model=tests/fixtures/tiny-rwkv7/tiny-rwkv-7v0-834K-FP32.bin
if (($# == 0)); then
  set -- --prompt "Once upon a time, there was a little girl named Lily. She" --tokens 128 --greedy
fi
# The prompt is echoed before the continuation, so the text reads as one.
prompt=""
for ((i = 1; i < $#; ++i)); do
  if [ "${!i}" = "--prompt" ]; then
    j=$((i + 1))
    prompt=${!j}
  fi
done
shown=""
for a in "$@"; do
  case $a in *[[:space:]]*) shown+=" \"$a\"" ;; *) shown+=" $a" ;; esac
done
echo "deltavk demo: build/dvk generate --model $model$shown"
# A first, silent run of two tokens builds the kernels (the Vulkan driver caches them on disk),
# so the speeds printed below are those of generating, not of compiling shaders.
build/dvk generate --model "$model" "$@" --tokens 2 >/dev/null 2>&1 || true
echo
printf '%s' "$prompt"
build/dvk generate --model "$model" "$@"
