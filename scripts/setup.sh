#!/usr/bin/env bash
# One idempotent set-up for l2g, called by `make setup` (and so by `make demo` / `make test`).
#   1. Debian packages: RISC-V cross GCC + picolibc, device-tree compiler (Spike needs dtc)
#   2. a virtualenv in .venv with `pip install -e .[ray]` (pinned deps in pyproject.toml)
#   3. the CMake build of csrc/ (the Gemmini extension for Spike) into build/
# Each step is skipped when already done, so a second run takes about a second.
set -euo pipefail
cd "$(dirname "$0")/.."

# g++ builds the Spike extension (and a test harness); the rest is the target toolchain and Spike's dtc
APT_PACKAGES=(g++ gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf device-tree-compiler)
VENV=${L2G_VENV:-.venv}
PYTHON=${PYTHON:-python3}
BUILD_DIR=${L2G_BUILD_DIR:-build}

say() { printf '[setup] %s\n' "$*"; }

# --- 1. Debian packages ---------------------------------------------------------------
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  say "installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# --- 2. virtualenv + editable install ---------------------------------------------------
if [ ! -x "$VENV/bin/python" ]; then
  say "creating virtualenv $VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip setuptools wheel
fi
# Reinstall only when the dependency list changed.
deps_hash=$(sha256sum pyproject.toml | cut -d' ' -f1)
stamp="$VENV/.l2g-installed"
if [ "$(cat "$stamp" 2>/dev/null)" != "$deps_hash" ]; then
  # the ray extra: `l2g bench --ray` and its test (Ray stays optional for a plain `pip install -e .`)
  say "pip install -e .[ray] (pinned dependencies; the first run downloads a few GB)"
  "$VENV/bin/pip" install -q -e ".[ray]"
  echo "$deps_hash" > "$stamp"
fi

# --- 3. C++ build ----------------------------------------------------------------------
mkdir -p "$BUILD_DIR"
if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
  say "configuring CMake build in $BUILD_DIR"
  "$VENV/bin/cmake" -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release \
    -DPython3_EXECUTABLE="$PWD/$VENV/bin/python" > "$BUILD_DIR/configure.log" 2>&1 \
    || { cat "$BUILD_DIR/configure.log"; exit 1; }
fi
# cmake --build is incremental: a no-op when nothing in csrc/ changed
if ! "$VENV/bin/cmake" --build "$BUILD_DIR" -j "$(nproc)" > "$BUILD_DIR/build.log" 2>&1; then
  cat "$BUILD_DIR/build.log"
  exit 1
fi
