#!/usr/bin/env bash
# Generates the Go client code of polarise.v1 and grpc.health.v1 from proto/
# and builds the example client, with Debian's toolchain only: no module is
# downloaded (see README.md beside this file).
#   Debian packages: golang-go protoc-gen-go protoc-gen-go-grpc protobuf-compiler
#     libprotobuf-dev golang-google-grpc-dev golang-google-protobuf-dev
#     golang-github-golang-protobuf-1-5-dev
#   usage: examples/go/build.sh [OUT_DIR]   (default: examples/go/gen)
# Writes OUT_DIR/src/polarise/gen/{polarisev1,healthv1}/*.go (generated) and
# OUT_DIR/bin/polarise-client, and prints the binary's path on stdout.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${1:-$here/gen}
mkdir -p "$out"
out=$(cd "$out" && pwd)
gocode=/usr/share/gocode

for tool in go protoc protoc-gen-go protoc-gen-go-grpc; do
  command -v "$tool" >/dev/null || { echo "$tool not found: run scripts/setup.sh as root (Debian's Go packages)" >&2; exit 1; }
done
[ -d "$gocode/src/google.golang.org/grpc" ] || { echo "$gocode/src/google.golang.org/grpc missing: apt-get install golang-google-grpc-dev" >&2; exit 1; }

# miner.proto names no go_package (the contract is not Go's to shape), so the
# Go import paths are given here with M options; health.proto's own
# go_package would collide with grpc's bundled copy, so it is mapped as well.
maps=(Mpolarise/v1/miner.proto=polarise/gen/polarisev1 Mgrpc/health/v1/health.proto=polarise/gen/healthv1)
go_opts=() grpc_opts=()
for m in "${maps[@]}"; do go_opts+=(--go_opt="$m"); grpc_opts+=(--go-grpc_opt="$m"); done
rm -rf "$out/src/polarise/gen"
mkdir -p "$out/src" "$out/bin"
protoc -I "$root/proto" -I /usr/include \
  --go_out="$out/src" "${go_opts[@]}" \
  --go-grpc_out="$out/src" "${grpc_opts[@]}" \
  "$root/proto/polarise/v1/miner.proto" "$root/proto/grpc/health/v1/health.proto"

# GOPATH mode: the generated packages under OUT_DIR/src, every dependency
# (grpc, protobuf, x/net, genproto, ...) from Debian's /usr/share/gocode.
# GOPROXY=off and GOFLAGS cleared make sure nothing is ever fetched.
export GO111MODULE=off GOPATH="$out:$gocode" GOPROXY=off GOFLAGS= CGO_ENABLED=0
if [ -z "${GOCACHE:-}" ] && [ -z "${HOME:-}" ] && [ -z "${XDG_CACHE_HOME:-}" ]; then export GOCACHE="$out/cache"; fi
cd "$here"
go build -o "$out/bin/polarise-client" .
echo "built $out/bin/polarise-client" >&2
echo "$out/bin/polarise-client"
