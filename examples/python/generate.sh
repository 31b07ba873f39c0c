#!/usr/bin/env bash
# Generates the Python client of polarise.v1 (and grpc.health.v1) from proto/
# with Debian's protoc and grpc_python_plugin (packages protobuf-compiler,
# protobuf-compiler-grpc, libprotobuf-dev, python3-grpcio).
#   usage: examples/python/generate.sh [OUT_DIR]   (default: examples/python/gen)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${1:-$here/gen}
plugin=$(command -v grpc_python_plugin || true)
[ -n "$plugin" ] || { echo "grpc_python_plugin not found: apt-get install protobuf-compiler-grpc" >&2; exit 1; }
mkdir -p "$out"
# The health protocol is mapped to the module grpc_health_v1 so that it does
# not shadow the grpc package itself.
protoc -I "$root/proto" -I /usr/include -I grpc_health_v1="$root/proto/grpc/health/v1" \
  --python_out="$out" --grpc_out="$out" --plugin=protoc-gen-grpc="$plugin" \
  "$root/proto/polarise/v1/miner.proto" grpc_health_v1/health.proto
echo "generated Python client in $out" >&2
