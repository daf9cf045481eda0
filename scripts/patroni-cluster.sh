#!/usr/bin/env bash
# A throwaway PostgreSQL HA cluster for drills: one etcd and two PostgreSQL nodes under Patroni,
# all on loopback ports of this machine, asynchronous streaming replication.
#   scripts/patroni-cluster.sh start DIR     -> start everything, wait for a primary and a streaming
#                                               replica; prints the multi-host URL on stdout
#   scripts/patroni-cluster.sh url DIR       -> print that URL again
#   scripts/patroni-cluster.sh status DIR    -> patronictl list
#   scripts/patroni-cluster.sh primary DIR   -> print the node name of the current primary
#   scripts/patroni-cluster.sh wait-replica DIR -> wait until the replica streams from the primary
#   scripts/patroni-cluster.sh freeze-replication|thaw-replication DIR
#        -> (root, nftables) silently stall / resume the replication traffic only; "failover kill"
#           while frozen loses every commit since the freeze, as asynchronous replication can
#   scripts/patroni-cluster.sh failover DIR [kill|switchover]
#        kill (default): SIGKILL the primary's postmaster (a crashed primary; Patroni fails over at
#        once because primary_start_timeout is 0); switchover: `patronictl switchover` (planned).
#        First waits until the replica streams (wait-replica), then until it accepts writes and prints one line:
#        "old=NODE new=NODE pg_writable_ms=N fault_at_ms=T0 writable_at_ms=T1" (N = T1 - T0: fault ->
#        first committed write on the new primary; T0/T1 are Unix times in ms).
#   scripts/patroni-cluster.sh stop DIR      -> stop Patroni, PostgreSQL and etcd
# Timing (bootstrap.dcs): ttl 5, loop_wait 1, retry_timeout 2 (Patroni requires
# loop_wait + 2 * retry_timeout <= ttl). As root, Patroni and PostgreSQL run as 'postgres'
# (initdb refuses root), like scripts/pg-cluster.sh.
set -euo pipefail

cmd=${1:?usage: patroni-cluster.sh start|stop|url|status|primary|wait-replica|freeze-replication|thaw-replication|failover DIR}
dir=${2:?usage: patroni-cluster.sh start|stop|url|status|primary|wait-replica|failover DIR}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
for b in patroni patronictl etcd; do
  command -v "$b" >/dev/null || { echo "patroni-cluster: '$b' not found (scripts/install-deps.sh installs patroni and etcd-server)" >&2; exit 1; }
done
[ -x "$PGBIN/initdb" ] || { echo "patroni-cluster: PostgreSQL server binaries not found" >&2; exit 1; }

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

now_ms() { date +%s%3N; }

port_of() { cat "$dir/$1.port"; }

url_of() {
  echo "postgresql://postgres@127.0.0.1:$(port_of node1),127.0.0.1:$(port_of node2)/postgres?target_session_attrs=read-write&connect_timeout=2"
}

psql_node() {  # psql_node NODE SQL -> output, non-zero on failure
  PGCONNECT_TIMEOUT=1 psql -X -A -t -q -h 127.0.0.1 -p "$(port_of "$1")" -U postgres -d postgres -c "$2" 2>/dev/null
}

patronictl_() { patronictl -c "$dir/node1.yml" "$@"; }

primary() {
  for n in node1 node2; do
    [ "$(psql_node "$n" 'SELECT pg_is_in_recovery()' || true)" = "f" ] && { echo "$n"; return 0; }
  done
  return 1
}

write_config() {  # write_config NODE
  local n=$1 pg rest
  pg=$(port_of "$n"); rest=$(port_of "$n.rest")
  cat > "$dir/$n.yml" <<EOF
scope: waconn-drill
name: $n
log:
  level: WARNING
restapi:
  listen: 127.0.0.1:$rest
  connect_address: 127.0.0.1:$rest
etcd3:
  hosts: 127.0.0.1:$(port_of etcd)
bootstrap:
  dcs:
    ttl: 5
    loop_wait: 1
    retry_timeout: 2
    primary_start_timeout: 0
    # The drill freezes replication on purpose to reproduce asynchronous replication's loss window:
    # the replica must still be promotable however far behind it is (Patroni's default refuses to
    # promote a replica more than 1 MB behind; production keeps its own limit).
    maximum_lag_on_failover: 1073741824
    postgresql:
      use_pg_rewind: true
      parameters:
        fsync: 'off'
        max_connections: 300
        wal_log_hints: 'on'
  initdb:
    - encoding: UTF8
    - locale: C.UTF-8
    - auth: trust
  pg_hba:
    - local all all trust
    - host all all 127.0.0.0/8 trust
    - host replication all 127.0.0.0/8 trust
postgresql:
  listen: 127.0.0.1,127.0.0.2:$pg
  connect_address: 127.0.0.2:$pg
  data_dir: $dir/$n/data
  bin_dir: $PGBIN
  pgpass: $dir/$n/pgpass
  authentication:
    superuser:
      username: postgres
    replication:
      username: postgres
    rewind:
      username: postgres
  parameters:
    unix_socket_directories: '$dir/$n'
watchdog:
  mode: "off"
tags:
  nofailover: false
EOF
}

start() {
  if [ -f "$dir/etcd.pid" ] && kill -0 "$(cat "$dir/etcd.pid")" 2>/dev/null; then url_of; return 0; fi
  for p in etcd etcd.peer node1 node1.rest node2 node2.rest; do free_port > "$dir/$p.port"; done
  mkdir -p "$dir/etcd" "$dir/node1" "$dir/node2"
  [ "$(id -u)" -eq 0 ] && chown postgres: "$dir" "$dir/node1" "$dir/node2"
  local ep pp
  ep=$(port_of etcd); pp=$(port_of etcd.peer)
  setsid etcd --name drill --data-dir "$dir/etcd" --log-level warn \
    --listen-client-urls "http://127.0.0.1:$ep" --advertise-client-urls "http://127.0.0.1:$ep" \
    --listen-peer-urls "http://127.0.0.1:$pp" --initial-advertise-peer-urls "http://127.0.0.1:$pp" \
    --initial-cluster "drill=http://127.0.0.1:$pp" >"$dir/etcd.log" 2>&1 < /dev/null &
  echo $! > "$dir/etcd.pid"
  for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$ep/health" >/dev/null 2>&1 && break; sleep 0.1; done
  curl -fsS "http://127.0.0.1:$ep/health" >/dev/null || { tail -20 "$dir/etcd.log" >&2; exit 1; }
  for n in node1 node2; do
    write_config "$n"
    touch "$dir/$n.log"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$dir/$n.yml" "$dir/$n.log"
    # The first node bootstraps alone; the second then clones it with pg_basebackup.
    as_owner "setsid patroni '$dir/$n.yml' >>'$dir/$n.log' 2>&1 </dev/null & echo \$! > '$dir/$n.pid.tmp'"
    mv "$dir/$n.pid.tmp" "$dir/$n.pid"
    if [ "$n" = node1 ]; then
      for _ in $(seq 300); do primary >/dev/null && break; sleep 0.1; done
      primary >/dev/null || { echo "patroni-cluster: node1 did not become primary" >&2; tail -30 "$dir/node1.log" >&2; exit 1; }
    fi
  done
  # Ready when the replica's own WAL receiver streams (pg_stat_replication on the primary would
  # also count pg_basebackup's WAL stream while the replica is still being cloned).
  wait_replica || { tail -30 "$dir/node2.log" >&2; exit 1; }
  url_of
}

stop() {
  for n in node2 node1; do
    [ -f "$dir/$n.pid" ] && kill -TERM "$(cat "$dir/$n.pid")" 2>/dev/null || true
  done
  for n in node1 node2; do
    for _ in $(seq 150); do [ -f "$dir/$n.pid" ] && kill -0 "$(cat "$dir/$n.pid")" 2>/dev/null || break; sleep 0.1; done
    [ -f "$dir/$n.pid" ] && kill -KILL "$(cat "$dir/$n.pid")" 2>/dev/null || true
    # A postmaster left behind by a killed Patroni.
    if [ -f "$dir/$n/data/postmaster.pid" ]; then
      as_owner "'$PGBIN/pg_ctl' -D '$dir/$n/data' -w -t 20 -m immediate stop" >/dev/null 2>&1 || true
    fi
    rm -f "$dir/$n.pid"
  done
  thaw_replication
  if [ -f "$dir/etcd.pid" ]; then
    kill -TERM "$(cat "$dir/etcd.pid")" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$(cat "$dir/etcd.pid")" 2>/dev/null || break; sleep 0.1; done
    rm -f "$dir/etcd.pid"
  fi
}

# Replication (and pg_rewind, pg_basebackup) reaches the nodes on 127.0.0.2, the pods and this
# script on 127.0.0.1: an nftables drop of 127.0.0.2 stalls replication alone, so the primary can
# be killed holding commits its replica never received (asynchronous replication's loss window).
nft_table() { echo "waconn_patroni_$(port_of etcd 2>/dev/null)"; }
freeze_replication() {
  local t; t=$(nft_table)
  nft add table inet "$t"
  nft add chain inet "$t" out '{ type filter hook output priority 0 ; policy accept ; }'
  nft add rule inet "$t" out ip daddr 127.0.0.2 tcp dport "{ $(port_of node1), $(port_of node2) }" drop
  nft add rule inet "$t" out ip saddr 127.0.0.2 tcp sport "{ $(port_of node1), $(port_of node2) }" drop
}
thaw_replication() { nft delete table inet "$(nft_table)" 2>/dev/null || true; }

# Waits until the replica's WAL receiver streams from the primary (after a failover the old primary
# needs a few seconds to rewind and rejoin); a failover before that is a double fault.
wait_replica() {
  local p r
  for _ in $(seq 600); do
    p=$(primary || true)
    r=$([ "$p" = node1 ] && echo node2 || echo node1)
    if [ -n "$p" ] && [ "$(psql_node "$r" "SELECT status FROM pg_stat_wal_receiver" || true)" = "streaming" ]; then
      return 0
    fi
    sleep 0.1
  done
  echo "patroni-cluster: the replica does not stream" >&2; return 1
}

failover() {
  local how=${1:-kill} old new t0 t1 pid
  wait_replica
  old=$(primary) || { echo "patroni-cluster: no primary" >&2; exit 1; }
  new=$([ "$old" = node1 ] && echo node2 || echo node1)
  t0=$(now_ms)
  case "$how" in
    kill)
      pid=$(head -1 "$dir/$old/data/postmaster.pid")
      kill -KILL "$pid"
      ;;
    switchover)
      # In the background: patronictl returns only a while after the promotion, and the probe
      # below must see the first write the new primary accepts.
      patronictl_ switchover --leader "$old" --candidate "$new" --force >"$dir/switchover.log" 2>&1 &
      pid=$!
      ;;
    *) echo "usage: patroni-cluster.sh failover DIR [kill|switchover]" >&2; exit 2 ;;
  esac
  # A committed write through the new primary's TCP port: that is what the pods' URL reaches.
  # 60 s: on a loaded 2-core machine the promotion after a kill with replication frozen (round 4
  # of the drill) took longer than 30 s in 2 of 4 runs; the drill prints pg_writable_ms either way.
  local deadline=$((t0 + 60000))
  while [ "$(now_ms)" -lt "$deadline" ]; do
    if psql_node "$new" "CREATE TEMP TABLE drill_probe(x int); INSERT INTO drill_probe VALUES (1)" >/dev/null; then
      t1=$(now_ms)
      if [ "$how" = switchover ] && ! wait "$pid"; then cat "$dir/switchover.log" >&2; exit 1; fi
      echo "old=$old new=$new pg_writable_ms=$((t1 - t0)) fault_at_ms=$t0 writable_at_ms=$t1"
      return 0
    fi
    sleep 0.02
  done
  echo "patroni-cluster: $new did not accept writes within 60 s" >&2; exit 1
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  url) url_of ;;
  status) patronictl_ list ;;
  primary) primary ;;
  wait-replica) wait_replica ;;
  freeze-replication) freeze_replication ;;
  thaw-replication) thaw_replication ;;
  failover) failover "${3:-kill}" ;;
  *) echo "usage: patroni-cluster.sh start|stop|url|status|primary|wait-replica|failover DIR" >&2; exit 2 ;;
esac
