#!/usr/bin/env bash
# Builds the static probe (validator/probe/build/probe) and the test cheaters.
# Idempotent: make rebuilds only what changed.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v musl-gcc >/dev/null && ! command -v gcc >/dev/null; then
  echo "build-probe: need musl-gcc (apt-get install musl-tools) or gcc" >&2
  exit 1
fi
make -s -C validator/probe -j"$(nproc)" all
