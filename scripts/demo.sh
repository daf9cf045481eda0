#!/usr/bin/env bash
# The election demo (README's first command): on a fresh Debian 12 machine, as root,
#   installs the build dependencies, builds Release in build/, starts a throwaway PostgreSQL
#   cluster, migrates it, registers one account, starts three replicas, shows who leads, kills
#   the leader (SIGKILL), prints who took over and how fast, then does a graceful handover
#   (SIGTERM) the same way, and stops everything.
# No WhatsApp transport is wired yet: the replicas only elect a leader per account.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

say() { printf '\n== %s\n' "$*"; }

say "No WhatsApp transport is built yet: this demo shows the leader election and failover only."

if [ -n "${WACONN_BIN_DIR:-}" ] && [ -x "$WACONN_BIN_DIR/waconnector" ]; then
  bin="$WACONN_BIN_DIR/waconnector"   # an existing build (CI, scripts/test.sh)
  echo "using $bin"
else
  bash scripts/install-deps.sh
  say "building (Release, build/)"
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build build --target waconnector -j"$(nproc)" >/dev/null
  bin="$root/build/bin/waconnector"
fi

work=$(mktemp -d /tmp/waconn-demo.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  bash "$root/scripts/pg-cluster.sh" stop "$work/pg" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

say "starting a throwaway PostgreSQL cluster"
DATABASE_URL=$(bash scripts/pg-cluster.sh start "$work/pg")
export DATABASE_URL
echo "database: $DATABASE_URL"

"$bin" migrate
"$bin" accounts add --business-id demo
sql() { psql "$DATABASE_URL" -X -q -t -A -c "$1"; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()' 2>/dev/null \
    || echo $((20000 + RANDOM % 20000))
}

declare -A port_of pid_of
start_replica() {
  local pod=$1 port
  port=$(free_port)
  "$bin" run --pod "$pod" --http "127.0.0.1:$port" --business-id demo >"$work/$pod.log" 2>&1 &
  pid_of[$pod]=$!
  port_of[$pod]=$port
  pids+=("$!")
}

say "starting three replicas (poll standbys, 500 ms ±20%; heartbeat 1 s; fence after 5 s)"
for i in 0 1 2; do start_replica "demo-$i"; done

# The current leader: the newest acquired/takeover event of the account.
leader_event() {
  sql "SELECT id || ' ' || pod || ' ' || epoch || ' ' || (extract(epoch FROM at) * 1000)::bigint FROM ha_events
       WHERE business_id = 'demo' AND kind IN ('acquired', 'takeover') ORDER BY id DESC LIMIT 1"
}
wait_new_leader() {  # $1 = previous event id; prints the new event
  local ev
  for _ in $(seq 1 3000); do
    ev=$(leader_event)
    if [ -n "$ev" ] && [ "${ev%% *}" != "$1" ]; then echo "$ev"; return 0; fi
    sleep 0.01
  done
  echo "no new leader within 30 s" >&2
  return 1
}

ev=$(wait_new_leader none)
read -r ev_id leader epoch _ <<<"$ev"
# The standbys are standing by once their lock session LISTENs and has polled (its last statement
# is the try-lock).
standbys_polling() {
  for _ in $(seq 1 500); do
    [ "$(sql "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'waconnector/%/lock'
              AND query LIKE '%pg_try_advisory_lock%'")" -ge 2 ] && return 0
    sleep 0.02
  done
}
standbys_polling
say "who leads"
echo "leader: $leader (lease epoch $epoch)"
for pod in demo-0 demo-1 demo-2; do
  printf '%s /status: %s\n' "$pod" "$(curl -s "http://127.0.0.1:${port_of[$pod]}/status")"
done

say "killing the leader $leader with SIGKILL"
t0=$(date +%s%3N)
kill -9 "${pid_of[$leader]}"
ev=$(wait_new_leader "$ev_id")
read -r ev_id new_leader new_epoch at_ms <<<"$ev"
echo "took over: $new_leader (epoch $new_epoch) $((at_ms - t0)) ms after the kill"
sql "SELECT assigned_pod, previous_pod, failover_count, lease_epoch FROM wa_accounts WHERE business_id = 'demo'" \
  | awk -F'|' '{printf "wa_accounts: assigned_pod=%s previous_pod=%s failover_count=%s lease_epoch=%s\n", $1, $2, $3, $4}'

say "restarting $leader as a standby, then a graceful handover: SIGTERM to $new_leader"
start_replica "$leader"
standbys_polling
kill -TERM "${pid_of[$new_leader]}"
ev=$(wait_new_leader "$ev_id")
read -r ev_id third third_epoch at_ms <<<"$ev"
resigned_ms=$(sql "SELECT (extract(epoch FROM at) * 1000)::bigint FROM ha_events WHERE business_id = 'demo'
                   AND kind = 'resigned' ORDER BY id DESC LIMIT 1")
rc=0
wait "${pid_of[$new_leader]}" || rc=$?
echo "took over: $third (epoch $third_epoch) $((at_ms - resigned_ms)) ms after $new_leader resigned (it unlocked and sent NOTIFY; exit code $rc)"

say "ha_events"
sql "SELECT to_char(at, 'HH24:MI:SS.MS') || '  ' || rpad(pod, 8) || rpad(kind, 10) || 'epoch ' || coalesce(epoch::text, '-')
     FROM ha_events WHERE business_id = 'demo' ORDER BY id"

say "done. No WhatsApp transport is built yet; the replicas were leading without a connection. Stopping everything."
