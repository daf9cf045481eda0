#!/usr/bin/env bash
# Runs bench/pgload: a throwaway PostgreSQL cluster with pg_stat_statements loaded, then
# pgload_bench on it (N idle logged-in accounts over 3 pods on wasim, for each N of
# WACONN_PGLOAD_ACCOUNTS, default 3,30,300). Prints transactions/s, statements/s and the top
# statements by calls/s over a window at steady state.
#   bench/pgload/run.sh [BUILD_DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
build=${1:-$src/build}
pgdir=$(mktemp -d /tmp/pgload-pg.XXXXXX)
trap 'bash "$src/scripts/pg-cluster.sh" stop "$pgdir" >/dev/null 2>&1 || true; rm -rf "$pgdir"' EXIT
url=$(bash "$src/scripts/pg-cluster.sh" start "$pgdir")
# pg_stat_statements must be preloaded: set it, restart (the cluster keeps its port), create it.
psql_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)/psql
"$psql_bin" -qAt "$url" -c "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'"
bash "$src/scripts/pg-cluster.sh" stop "$pgdir" >/dev/null
url=$(bash "$src/scripts/pg-cluster.sh" start "$pgdir")
"$psql_bin" -qAt "$url" -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"
ulimit -n "$(ulimit -Hn)" || true
export WACONN_TEST_DATABASE_URL=$url WACONN_BIN_DIR=$build/bin WACONN_SOURCE_DIR=$src ALLOW_RLS_BYPASS=1
"$build/bin/pgload_bench" "[.pgload]" 2>&1 | grep --line-buffered -E '^pgload|FAILED|REQUIRE|with expansion|test cases' || true
