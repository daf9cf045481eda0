#!/usr/bin/env bash
# Installs everything waconnector needs to build, test and run its local demo on Debian 12.
# Used by the README and by .ci/run, so both stay in step. Idempotent.
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config git ca-certificates
  libpq-dev postgresql
  libasio-dev libssl-dev zlib1g-dev
  libsignal-protocol-c-dev
  libprotobuf-dev protobuf-compiler
  libfmt-dev catch2
  prometheus-cpp-dev libcivetweb-dev
  libqrencode-dev libpng-dev
  clang libclang-rt-14-dev
  prometheus
  nftables iproute2 procps curl
  zbar-tools jq
  # OCI image without a daemon (scripts/image.sh, tests/image); prometheus above runs the alert drill
  buildah
  # PostgreSQL primary failover drills (scripts/patroni-cluster.sh, tests/patroni)
  patroni etcd-server
  # the store pool through transaction pooling, and a lock URL refused behind it (tests/pgbouncer)
  pgbouncer
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

# The machine image ships Node.js 20 with its own npm; Debian's npm conflicts with it, so only
# fall back to Debian's packages when there is no Node at all.
if ! command -v node >/dev/null 2>&1; then missing+=(nodejs); fi
if ! command -v npm >/dev/null 2>&1; then missing+=(npm); fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends --no-upgrade "${missing[@]}"
else
  echo "install-deps: all packages present"
fi
