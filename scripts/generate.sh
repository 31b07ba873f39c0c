#!/usr/bin/env bash
# Regenerates the TypeScript contract (common/gen/) and the descriptor set the
# miner serves through reflection (common/gen/polarise.binpb), both from proto/.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf common/gen
npx buf generate
npx buf build -o common/gen/polarise.binpb
