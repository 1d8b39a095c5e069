#!/usr/bin/env bash
# The Debian packages deltavk needs — the one place they are named. Installs those that are
# missing (apt-get, with sudo when not root) and nothing else.
set -euo pipefail

PACKAGES=(
  build-essential          # gcc, make
  cmake
  pkg-config
  libvulkan-dev            # Vulkan headers (and the loader, libvulkan1)
  libvulkan-volk-dev       # volk: opens the Vulkan loader at run time
  glslc                    # shaderc's GLSL -> SPIR-V compiler
  libcmocka-dev            # tests
  mesa-vulkan-drivers      # lavapipe: a Vulkan device on the CPU, so every machine has one
  vulkan-validationlayers  # the tests run under VK_LAYER_KHRONOS_validation
  clang                    # the libFuzzer targets (scripts/fuzz.sh, run by CI)
  libclang-rt-dev          # libFuzzer and the sanitizer runtimes for clang
)

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "deps.sh: not a Debian-like system; install the equivalents of: ${PACKAGES[*]}" >&2
  exit 0
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ((${#missing[@]} == 0)); then
  exit 0
fi

echo "deps.sh: installing ${missing[*]}" >&2
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  SUDO=(sudo)
fi
"${SUDO[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
