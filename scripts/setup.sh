#!/usr/bin/env bash
# Prepares this machine to run and test Polarise. Idempotent: a second run
# only checks and takes seconds.
#   - Debian packages the miner, the probe build, the client examples and the tests use
#   - a running Docker engine (Debian's docker.io, dockerd in the background)
#   - npm dependencies (exactly as locked)
#   - the local base image polarise/base:bookworm (debootstrap + docker import)
#   - the probe (static binary) and development certificates
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BASE_IMAGE=${POLARISE_BASE_IMAGE:-polarise/base:bookworm}
VAR=$ROOT/var
mkdir -p "$VAR"

step() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }
is_root() { [ "$(id -u)" = 0 ]; }

# --- Debian packages ---------------------------------------------------------
PACKAGES=(docker.io debootstrap openssh-client sshpass musl-tools
  # the miner's isolation rules (iptables, ip6tables) and the isolation tests (ip netns, nsenter)
  iptables iproute2 util-linux
  protobuf-compiler protobuf-compiler-grpc libprotobuf-dev python3-grpcio python3-protobuf
  # the Go client example (examples/go): Go, the protoc plugins and the
  # libraries as GOPATH source in /usr/share/gocode, so nothing is downloaded
  golang-go protoc-gen-go protoc-gen-go-grpc golang-google-grpc-dev
  golang-google-protobuf-dev golang-github-golang-protobuf-1-5-dev)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  is_root || die "missing Debian packages: ${missing[*]}. Install them as root: sudo apt-get install -y ${missing[*]}"
  step "installing Debian packages: ${missing[*]}"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >"$VAR/apt-install.log" 2>&1 \
    || die "apt-get install failed; see $VAR/apt-install.log"
fi

# --- Docker engine -----------------------------------------------------------
if ! docker info >/dev/null 2>&1; then
  if [ -n "${DOCKER_HOST:-}" ]; then
    die "no Docker engine answers at DOCKER_HOST=$DOCKER_HOST; start it, or unset DOCKER_HOST to use a local one"
  fi
  is_root || die "no Docker engine is running and starting one needs root: run 'sudo dockerd &' (or 'sudo systemctl start docker') and try again"
  step "starting dockerd (log: $VAR/dockerd.log)"
  # Each allocation gets a network of its own: small subnets from a large
  # pool, or Docker's defaults run out after about 30 networks.
  nohup dockerd --default-address-pool base=10.210.0.0/16,size=28 >"$VAR/dockerd.log" 2>&1 &
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || die "dockerd did not start within 30 s; see $VAR/dockerd.log"
fi

# --- npm dependencies --------------------------------------------------------
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  step "installing npm dependencies (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error >&2
fi

# --- base image ----------------------------------------------------------------
# The Debian mirror this machine's apt already uses (deb822 .sources or a
# classic sources.list), never a host name written into the repository.
apt_mirror() {
  local f uri
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    uri=$(awk '/^URIs:/{u=$2} /^Suites:/{ if ($0 ~ /bookworm( |$)/ && u !~ /security/) {print u; exit} }' "$f")
    [ -n "$uri" ] && { echo "$uri"; return; }
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    uri=$(awk '$1=="deb" && $0 !~ /security/ {for(i=2;i<=NF;i++) if ($i ~ /^(https?|file):/) {print $i; exit}}' "$f")
    [ -n "$uri" ] && { echo "$uri"; return; }
  done
}
if ! docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
  is_root || die "the base image $BASE_IMAGE is missing and building it (debootstrap) needs root"
  mirror=$(apt_mirror)
  [ -n "$mirror" ] || die "no Debian mirror found in /etc/apt/sources.list*; cannot build $BASE_IMAGE"
  rootfs=$(mktemp -d "$VAR/rootfs.XXXXXX")
  trap 'rm -rf "$rootfs"' EXIT
  step "building $BASE_IMAGE with debootstrap (about a minute; log: $VAR/debootstrap.log)"
  debootstrap --variant=minbase --include=openssh-sftp-server,procps,ca-certificates bookworm "$rootfs" "$mirror" \
    >"$VAR/debootstrap.log" 2>&1 || die "debootstrap failed; see $VAR/debootstrap.log"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | docker import -c 'CMD ["/bin/bash"]' -m "polarise base (debootstrap bookworm minbase)" - "$BASE_IMAGE" >/dev/null
  rm -rf "$rootfs"; trap - EXIT
  step "built $BASE_IMAGE"
fi

# --- probe and development certificates ------------------------------------------
if [ -f scripts/build-probe.sh ]; then bash scripts/build-probe.sh; fi
if [ ! -f certs/dev/ca.crt ]; then
  step "making development certificates in certs/dev"
  npx tsx scripts/certs.ts dev --out certs/dev >&2
fi
step "ready"
