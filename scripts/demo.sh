#!/usr/bin/env bash
# The main demo: installs what is missing, builds, and streams a sequence through the delta rule
# on the default Vulkan device (DVK_DEVICE=N|NAME picks another), checking it against the C
# reference. Extra arguments go to the demo (--tokens T --prefill P --device N).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target stream_delta_rule >/dev/null
exec build/stream_delta_rule "$@"
