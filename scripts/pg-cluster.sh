#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for tests, demos and drills.
#   scripts/pg-cluster.sh start DIR   -> initdb + start; prints the database URL on stdout
#   scripts/pg-cluster.sh stop DIR    -> stop (fast) and keep the data
#   scripts/pg-cluster.sh url DIR     -> print the URL of a running cluster
# The server listens on a unix socket in DIR and on 127.0.0.1:PORT (a free port), so that
# network drills can also reach it over TCP (WACONN_PG_LISTEN: other addresses too, for drills
# from a network namespace). initdb refuses to run as root, so as root the
# cluster runs as the 'postgres' system user.
set -euo pipefail

cmd=${1:?usage: pg-cluster.sh start|stop|url DIR}
dir=${2:?usage: pg-cluster.sh start|stop|url DIR}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
[ -x "$PGBIN/initdb" ] || { echo "pg-cluster: PostgreSQL server binaries not found (install 'postgresql')" >&2; exit 1; }

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    su postgres -s /bin/sh -c "$*"
  else
    sh -c "$*"
  fi
}

free_port() {
  python3 - <<'PY' 2>/dev/null || echo $((20000 + RANDOM % 20000))
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()
PY
}

url_of() {
  local port; port=$(cat "$dir/port")
  echo "postgresql://postgres@127.0.0.1:${port}/postgres?host=${dir}/sock"
}

case "$cmd" in
  start)
    if [ -f "$dir/data/postmaster.pid" ] && as_owner "$PGBIN/pg_ctl -D '$dir/data' status" >/dev/null 2>&1; then
      url_of; exit 0
    fi
    mkdir -p "$dir/sock"
    touch "$dir/pg.log"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$dir" "$dir/sock" "$dir/pg.log"
    if [ ! -f "$dir/data/PG_VERSION" ]; then
      [ "$(id -u)" -eq 0 ] && { mkdir -p "$dir/data"; chown postgres: "$dir/data"; }
      as_owner "'$PGBIN/initdb' -D '$dir/data' -A trust -U postgres --no-sync -E UTF8 --locale=C.UTF-8" >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    # A restarted cluster keeps its port, so URLs handed out earlier stay valid (drills restart it).
    port=$(cat "$dir/port" 2>/dev/null || true)
    [ -n "$port" ] || port=$(free_port)
    echo "$port" > "$dir/port"
    as_owner "'$PGBIN/pg_ctl' -D '$dir/data' -l '$dir/pg.log' -w -t 30 -o \"-c listen_addresses=${WACONN_PG_LISTEN:-127.0.0.1} -c unix_socket_directories='$dir/sock' -p $port -c fsync=off -c max_connections=300\" start" >/dev/null \
      || { tail -20 "$dir/pg.log" >&2; exit 1; }
    url_of
    ;;
  stop)
    if [ -f "$dir/data/postmaster.pid" ]; then
      as_owner "'$PGBIN/pg_ctl' -D '$dir/data' -w -t 30 -m fast stop" >/dev/null 2>&1 || true
    fi
    ;;
  url)
    url_of
    ;;
  *)
    echo "usage: pg-cluster.sh start|stop|url DIR" >&2; exit 2 ;;
esac
