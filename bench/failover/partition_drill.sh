#!/usr/bin/env bash
# Partition drill: measures the fencing margin with the settings waconnector ships.
# The leader runs in a network namespace and reaches PostgreSQL over a veth pair; a standby on
# the host waits in pg_advisory_lock (--standby-wait block) over the unix socket, so the moment it
# gets the lock is the moment the server released the leader's lock. The link is cut silently
# (nftables netdev ingress drop on both ends; `ip link down` would give an immediate error
# instead). Per run it prints, in ms after the cut: when the leader fenced (its
# fence_deadline_passed log line), when the server released (the standby's takeover event), and
# the margin between them.
#   sudo bash bench/failover/partition_drill.sh [BIN_DIR] [RUNS]     (defaults: build/bin, 5)
# Needs root, iproute2, nftables and the PostgreSQL server binaries.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=$(cd "${1:-build/bin}" && pwd)/waconnector
runs=${2:-5}
[ "$(id -u)" -eq 0 ] || { echo "partition_drill: needs root (network namespaces, nftables)" >&2; exit 2; }
[ -x "$bin" ] || { echo "partition_drill: $bin not found" >&2; exit 2; }

PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
tag=$$
ns=wacut$tag
vh=wch$tag
vn=wcn$tag
host_ip=10.231.77.1
ns_ip=10.231.77.2
work=$(mktemp -d /tmp/waconn-partition.XXXXXX)
pids=()

cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  nft delete table netdev wacut 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
  ip link del "$vh" 2>/dev/null || true
  [ -f "$work/data/postmaster.pid" ] && su postgres -s /bin/sh -c "'$PGBIN/pg_ctl' -D '$work/data' -m immediate -w stop" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

ip netns add "$ns"
ip link add "$vh" type veth peer name "$vn"
ip link set "$vn" netns "$ns"
ip addr add "$host_ip/30" dev "$vh"
ip link set "$vh" up
ip -n "$ns" addr add "$ns_ip/30" dev "$vn"
ip -n "$ns" link set "$vn" up
ip -n "$ns" link set lo up

chown postgres: "$work"
mkdir -p "$work/sock" && chown postgres: "$work/sock"
su postgres -s /bin/sh -c "'$PGBIN/initdb' -D '$work/data' -A trust -U postgres --no-sync -E UTF8 --locale=C.UTF-8" >/dev/null
echo "host all all $ns_ip/32 trust" >>"$work/data/pg_hba.conf"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo $((20000 + RANDOM % 20000)))
su postgres -s /bin/sh -c "'$PGBIN/pg_ctl' -D '$work/data' -l '$work/pg.log' -w -o \"-c listen_addresses=127.0.0.1,$host_ip -c unix_socket_directories=$work/sock -p $port -c fsync=off\" start" >/dev/null
local_url="host=$work/sock port=$port user=postgres"
sql() { psql "$local_url dbname=$1" -X -q -t -A -c "$2"; }

ms_of() { date -d "$1" +%s%3N; }
cut_link() {
  nft -f - <<EOF
table netdev wacut {
  chain in {
    type filter hook ingress device "$vh" priority 0; policy accept;
    ip saddr $ns_ip ip daddr $host_ip drop
  }
}
EOF
  ip netns exec "$ns" nft -f - <<EOF
table netdev wacut {
  chain in {
    type filter hook ingress device "$vn" priority 0; policy accept;
    ip saddr $host_ip ip daddr $ns_ip drop
  }
}
EOF
}
heal_link() {
  nft delete table netdev wacut 2>/dev/null || true
  ip netns exec "$ns" nft delete table netdev wacut 2>/dev/null || true
}

echo "partition drill: fence-after 5s (default), heartbeat 1s; $runs runs"
printf '%-4s %14s %16s %10s\n' run "fence@cut+ms" "release@cut+ms" "margin ms"
margins=()
for run in $(seq 1 "$runs"); do
  db=drill$run
  sql postgres "CREATE DATABASE $db"
  "$bin" migrate --database-url "$local_url dbname=$db" >/dev/null 2>&1
  "$bin" accounts add --database-url "$local_url dbname=$db" --business-id cut >/dev/null 2>&1
  ip netns exec "$ns" "$bin" run --pod leader --http 127.0.0.1:0 --business-id cut --wa-url none \
    --database-url "host=$host_ip port=$port user=postgres dbname=$db" >"$work/leader$run.log" 2>&1 &
  leader=$!; pids+=("$leader")
  for _ in $(seq 1 500); do
    [ "$(sql "$db" "SELECT count(*) FROM ha_events WHERE pod = 'leader' AND kind IN ('acquired','takeover')")" = 1 ] && break
    sleep 0.02
  done
  "$bin" run --pod standby --http 127.0.0.1:0 --business-id cut --standby-wait block --wa-url none \
    --database-url "$local_url dbname=$db" >"$work/standby$run.log" 2>&1 &
  standby=$!; pids+=("$standby")
  for _ in $(seq 1 500); do
    [ "$(sql "$db" "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")" = 1 ] && break
    sleep 0.02
  done
  # A random phase against the 1 s heartbeat.
  sleep "0.$((RANDOM % 1000))"
  cut_link
  t_cut=$(date +%s%3N)
  release=""
  for _ in $(seq 1 1500); do
    release=$(sql "$db" "SELECT (extract(epoch FROM at) * 1000)::bigint FROM ha_events WHERE pod = 'standby' AND kind IN ('acquired','takeover')")
    [ -n "$release" ] && break
    sleep 0.02
  done
  fence_ts=$(grep -o '"ts":"[^"]*","level":"error","event":"fence_deadline_passed"' "$work/leader$run.log" | head -1 | cut -d'"' -f4)
  if [ -z "$release" ] || [ -z "$fence_ts" ]; then
    echo "run $run: incomplete (release='$release' fence='$fence_ts')"; tail -5 "$work/leader$run.log" >&2
  else
    fence=$(ms_of "$fence_ts")
    margin=$((release - fence))
    margins+=("$margin")
    printf '%-4s %14s %16s %10s\n' "$run" $((fence - t_cut)) $((release - t_cut)) "$margin"
  fi
  kill -9 "$leader" 2>/dev/null || true
  kill -TERM "$standby" 2>/dev/null || true
  wait "$leader" 2>/dev/null || true
  wait "$standby" 2>/dev/null || true
  heal_link
done
if [ ${#margins[@]} -gt 0 ]; then
  sorted=$(printf '%s\n' "${margins[@]}" | sort -n)
  echo "margin (server release - leader fence) ms: min $(echo "$sorted" | head -1)  median $(echo "$sorted" | sed -n "$(( (${#margins[@]} + 1) / 2 ))p")  max $(echo "$sorted" | tail -1)  (n=${#margins[@]})"
fi
