#!/usr/bin/env bash
# Runs bench/fleet: a throwaway PostgreSQL cluster (max_connections raised for many pods), the
# fleet bench on it, then the Baileys comparison (RSS per idle session, 100 sessions in one Node
# process) when tests/interop's node_modules are installed. Prints the numbers.
#   bench/fleet/run.sh [BUILD_DIR]     (environment: see fleet_bench.cpp; WACONN_FLEET_BAILEYS=0 skips Node)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
build=${1:-$src/build}
pgdir=$(mktemp -d /tmp/fleet-pg.XXXXXX)
url=$(bash "$src/scripts/pg-cluster.sh" start "$pgdir")
trap 'bash "$src/scripts/pg-cluster.sh" stop "$pgdir" >/dev/null 2>&1 || true; rm -rf "$pgdir"' EXIT
# Pods keep file descriptors per account (one socket each) and wasim one per device.
ulimit -n "$(ulimit -Hn)" || true
export WACONN_TEST_DATABASE_URL=$url WACONN_BIN_DIR=$build/bin WACONN_SOURCE_DIR=$src ALLOW_RLS_BYPASS=1
"$build/bin/fleet_bench" "[.fleet]" 2>&1 | grep --line-buffered -E '^fleet|FAILED|REQUIRE|with expansion|test cases' || true
if [ "${WACONN_FLEET_BAILEYS:-1}" != 0 ] && [ -d "$src/tests/interop/node_modules" ]; then
  node --expose-gc "$here/baileys_rss.mjs" --bin-dir "$build/bin" --sessions "${WACONN_FLEET_BAILEYS_SESSIONS:-100}"
fi
