#!/usr/bin/env bash
# The test suite: installs what is missing, builds with warnings as errors, and runs every test
# (cmocka via CTest) under the Khronos validation layer, with the device's limits and with the
# small-device profile.
#   scripts/test.sh              the default suite (a few minutes on two cores)
#   scripts/test.sh --sanitize   the same, built with AddressSanitizer + UBSan (build-asan/)
#   scripts/test.sh --long       also the long-running tests
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh

build=build
args=(-DDVK_WERROR=ON)
for a in "$@"; do
  case "$a" in
    --sanitize) build=build-asan; args+=(-DDVK_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug) ;;
    --long) args+=(-DDVK_LONG_TESTS=ON) ;;
    *) echo "usage: scripts/test.sh [--sanitize] [--long]" >&2; exit 2 ;;
  esac
done
cmake -S . -B "$build" "${args[@]}" >/dev/null
cmake --build "$build" -j"$(nproc)"
cd "$build"
ctest --output-on-failure -j"$(nproc)"
