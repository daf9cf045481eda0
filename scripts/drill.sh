#!/usr/bin/env bash
# One drill command: starts its own local cluster (PostgreSQL or Patroni, wasim, three
# `waconnector run` replicas, a paired account and a wasim virtual phone) and runs N rounds of a
# fault, measuring each from wasim's connection log and the ha_events history.
#
#   bash scripts/drill.sh SCENARIO [--rounds N] [--json] [--bin DIR] [--ha-profile default|fast]
#                                  [--seed S] [--keep]
#   SCENARIO: kill | term | stop | partition | pg-restart | pg-failover | replaced | logout | mixed, or a
#             comma-separated list of them, taken in turn (CI: kill,term,pg-restart)
#
# Per round (times in ms after the fault, one clock: this host's):
#   takeover_ms       a lease began (acquired|takeover in ha_events) after the fault
#   logged_in_ms      the device's next login at wasim
#   overlap_ms        time two logins of the device were open at once during the round (wasim)
#   fence_margin_ms   partition only: server released the lock (new lease) minus the cut-off
#                     leader's fence (its fence_deadline_passed line)
#   pg_writable_ms    pg-failover: kill of the primary -> the promoted node commits a write;
#                     pg-restart: stop -> the restarted server accepts connections (pg_ctl -w)
#   inbound_*/outbound_*  messages the virtual phone sent during the round and the account's inbox
#                     holds (lost = missing, doubled = more than once), and messages queued with
#                     `waconnector messages send` that the phone received. null when messaging
#                     does not work end to end in this build (checked once at setup): never a
#                     made-up 0.
# A table by default; with --json one object per round. Exit status 1 when any round lost,
# doubled, overlapped or did not recover; 2 on a setup or usage error.
#
# mixed picks a random scenario per round among kill, term, stop, pg-restart, replaced (+ partition when
# network namespaces and nftables work here; + pg-failover with --patroni). logout ends the
# account's device: that round expects NO login (logged_in_ms null) and re-pairs afterwards.
# replaced: wasim tells the leader's connection what a login elsewhere with the same keys causes
# (<conflict type="replaced"/>, POST /admin/devices/{jid}/replace); the leader gives the account up
# and a standby must log in. (tests/e2e makes a real second login with copied credentials.)
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD

usage() { sed -n '2,32p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
scenario=${1:-}
[ -n "$scenario" ] || usage
shift
rounds=5 json=0 bin=$src/build/bin profile=default keep=0 patroni=0 seed=${RANDOM}
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=${2:?}; shift 2 ;;
    --json) json=1; shift ;;
    --bin) bin=$(cd "${2:?}" && pwd); shift 2 ;;
    --ha-profile) profile=${2:?}; shift 2 ;;
    --patroni) patroni=1; shift ;;
    --seed) seed=${2:?}; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) usage ;;
    *) echo "drill: unknown argument $1" >&2; usage ;;
  esac
done
IFS=, read -r -a sequence <<<"$scenario"
for sc in "${sequence[@]}"; do
  case "$sc" in
    kill|term|stop|partition|pg-restart|pg-failover|replaced|logout|mixed) ;;
    *) echo "drill: unknown scenario '$sc'" >&2; usage ;;
  esac
done
has() { [[ ",$scenario," == *",$1,"* ]]; }
[[ "$rounds" =~ ^[0-9]+$ ]] && [ "$rounds" -ge 1 ] || { echo "drill: --rounds must be a positive integer" >&2; exit 2; }
if has pg-failover; then patroni=1; fi
if [ "$patroni" = 1 ] && has pg-restart; then echo "drill: pg-restart needs the local cluster (not Patroni)" >&2; exit 2; fi
RANDOM=$seed
for t in waconnector wasim; do [ -x "$bin/$t" ] || { echo "drill: $bin/$t not built" >&2; exit 2; }; done
for t in curl jq psql; do command -v $t >/dev/null || { echo "drill: $t is required" >&2; exit 2; }; done

now_ms() { date +%s%3N; }
wait_gone() { local i; for i in $(seq 1 600); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.05; done; }
say() { echo "drill: $*" >&2; }
work=$(mktemp -d /tmp/waconn-drill.XXXXXX)
chmod 755 "$work"
pids=()
declare -A pod_pid pod_port pod_ns
ns="" vh="" vn="" host_ip=10.231.78.1 ns_ip=10.231.78.2

cleanup() {
  set +e
  for p in "${pids[@]}"; do kill -CONT "$p" 2>/dev/null; kill -9 "$p" 2>/dev/null; done
  if [ -n "$ns" ]; then
    nft delete table netdev wadrill 2>/dev/null
    ip netns del "$ns" 2>/dev/null
    ip link del "$vh" 2>/dev/null
  fi
  if [ "$patroni" = 1 ]; then bash "$src/scripts/patroni-cluster.sh" stop "$work/patroni" >/dev/null 2>&1
  else bash "$src/scripts/pg-cluster.sh" stop "$work/pg" >/dev/null 2>&1; fi
  if [ "$keep" = 1 ]; then say "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- can this host cut a pod's database traffic? (root, netns, nftables) -----------------------
partition_ok=0
if [ "$patroni" = 0 ] && [ "$(id -u)" -eq 0 ] && command -v nft >/dev/null && command -v ip >/dev/null; then
  if ip netns add "wadrillprobe$$" 2>/dev/null; then ip netns del "wadrillprobe$$"; partition_ok=1; fi
fi
if has partition && [ "$partition_ok" = 0 ]; then
  say "partition needs root, network namespaces and nftables (and the local cluster, not --patroni)"; exit 2
fi

# ---- database ------------------------------------------------------------------------------------
if [ "$patroni" = 1 ]; then
  url=$(bash "$src/scripts/patroni-cluster.sh" start "$work/patroni" | tail -n1)
else
  url=$(bash "$src/scripts/pg-cluster.sh" start "$work/pg")
fi
[ -n "$url" ] || { say "database did not start"; exit 2; }
sql() { psql "$url" -X -q -t -A -c "$1" 2>/dev/null; }
pg_port=$(echo "$url" | sed -E 's#.*@[^:/]*:([0-9]+)/.*#\1#')

if [ "$partition_ok" = 1 ] && { has partition || has mixed; }; then
  ns=wadrill$$ vh=wdh$$ vn=wdn$$
  ip netns add "$ns"
  ip link add "$vh" type veth peer name "$vn"
  ip link set "$vn" netns "$ns"
  ip addr add "$host_ip/30" dev "$vh"
  ip link set "$vh" up
  ip -n "$ns" addr add "$ns_ip/30" dev "$vn"
  ip -n "$ns" link set "$vn" up
  ip -n "$ns" link set lo up
  # The server also listens on the veth address, and trusts the namespace (throwaway cluster).
  hba=$(sql "SHOW hba_file")
  echo "host all all $ns_ip/32 trust" >>"$hba"
  export WACONN_PG_LISTEN="127.0.0.1,$host_ip"
  bash "$src/scripts/pg-cluster.sh" stop "$work/pg" >/dev/null
  bash "$src/scripts/pg-cluster.sh" start "$work/pg" >/dev/null
fi

"$bin/waconnector" migrate --database-url "$url" >/dev/null 2>&1 || { say "migrate failed"; exit 2; }
"$bin/waconnector" accounts add --database-url "$url" --business-id acme >/dev/null 2>&1 || { say "accounts add failed"; exit 2; }

# ---- wasim ---------------------------------------------------------------------------------------
mkdir -p "$work/wasim"
listen=127.0.0.1
[ -n "$ns" ] && listen=0.0.0.0
"$bin/wasim" --listen "$listen:0" --admin 127.0.0.1:0 --state "$work/wasim" >"$work/wasim.log" 2>&1 &
pids+=($!)
disown $!  # killed at exit on purpose: no job-control noise
log_field() {  # FILE EVENT KEY -> value from the last line with that event
  { grep "\"event\":\"$2\"" "$1" 2>/dev/null || true; } | tail -n1 | jq -r ".$3 // empty" 2>/dev/null || true
}
for _ in $(seq 1 200); do
  ws_port=$(log_field "$work/wasim.log" wasim_listening ws_port)
  admin_port=$(log_field "$work/wasim.log" wasim_listening admin_port)
  root_key=$(log_field "$work/wasim.log" wasim_root_key root_public_key)
  [ -n "$ws_port" ] && [ -n "$admin_port" ] && [ -n "$root_key" ] && break
  sleep 0.05
done
[ -n "${root_key:-}" ] || { say "wasim did not start"; exit 2; }
admin() { curl -s -m 5 -X "$1" -H 'content-type: application/json' ${3:+--data "$3"} "${@:4}" "http://127.0.0.1:$admin_port$2"; }
# The same, failing on an HTTP error (a message wasim refused was not sent).
admin_ok() { curl -sf -m 5 -X "$1" -H 'content-type: application/json' ${3:+--data "$3"} "http://127.0.0.1:$admin_port$2"; }

# ---- pods ----------------------------------------------------------------------------------------
start_pod() {  # NAME
  local name=$1 db_url=$url wa="ws://127.0.0.1:$ws_port/ws/chat" http=127.0.0.1:0 pre=()
  if [ "$name" = pod-0 ] && [ -n "$ns" ]; then
    db_url="host=$host_ip port=$pg_port user=postgres dbname=postgres"
    wa="ws://$host_ip:$ws_port/ws/chat" http="$ns_ip:0" pre=(ip netns exec "$ns")
  fi
  : >"$work/$name.log"
  "${pre[@]}" "$bin/waconnector" run --pod "$name" --http "$http" --database-url "$db_url" --business-id acme \
    --wa-url "$wa" --wa-root-key "$root_key" --ha-profile "$profile" >>"$work/$name.log" 2>&1 &
  pod_pid[$name]=$!
  pids+=($!)
  disown $!
  pod_ns[$name]=${pre:+$ns_ip}
  pod_port[$name]=""
  for _ in $(seq 1 200); do
    pod_port[$name]=$(log_field "$work/$name.log" http_listening port)
    [ -n "${pod_port[$name]}" ] && break
    sleep 0.05
  done
}
status_of() { curl -s -m 1 "http://${pod_ns[$1]:-127.0.0.1}:${pod_port[$1]}/status" 2>/dev/null; }
pods=(pod-0 pod-1 pod-2)
for p in "${pods[@]}"; do start_pod "$p"; done

logged_in_pod() {  # the pod whose /status says it leads with a logged-in connection
  local p
  for p in "${pods[@]}"; do
    status_of "$p" | jq -e '.accounts[]? | select((.role == "leader" or .role == "active") and .connection == "logged_in")' \
      >/dev/null 2>&1 && { echo "$p"; return; }
  done
}
wait_until() {  # TIMEOUT_S 'CONDITION' : evaluates the condition every 20 ms
  local end=$(($(now_ms) + $1 * 1000))
  while [ "$(now_ms)" -lt "$end" ]; do eval "$2" && return 0; sleep 0.02; done
  return 1
}
connections() { admin GET "/admin/devices/$jid/connections" | jq -c '.connections // .'; }

# ---- pairing -------------------------------------------------------------------------------------
phone=+15550007001
contact=+15550007002
pair() {
  local qr=""
  for _ in $(seq 1 1500); do
    qr=$(sql "SELECT qr_code FROM wa_accounts WHERE business_id = 'acme'")
    [ -n "$qr" ] && break
    sleep 0.02
  done
  [ -n "$qr" ] || { say "no QR published"; return 1; }
  admin POST /admin/phones "{\"phone\":\"$phone\"}" >/dev/null
  admin POST "/admin/phones/$phone/link" "$(jq -cn --arg qr "$qr" '{qr: $qr}')" >/dev/null
  wait_until 30 '[ -n "$(logged_in_pod)" ]' || { say "pairing did not log in"; return 1; }
  jid=$(sql "SELECT jid FROM wa_accounts WHERE business_id = 'acme'")
  account_user=$(echo "$jid" | sed -E 's/:[0-9]+@/@/')  # the account's user JID (no device)
  # The account is a linked device of $phone; a second virtual phone is the contact that chats.
  admin POST /admin/phones "{\"phone\":\"$contact\"}" >/dev/null
  contact_jid="${contact#+}@s.whatsapp.net"
}
pair || exit 2
say "paired; pods: ${pods[*]}; profile $profile; database $([ "$patroni" = 1 ] && echo Patroni || echo local)"

# ---- messages: measured only when they work end to end here ---------------------------------------
messages=0
probe_messages() {
  local t="drill-probe-$$"
  local reply
  reply=$(admin POST "/admin/phones/$contact/messages" "$(jq -cn --arg to "$account_user" --arg text "$t" '{to: $to, text: $text}')" \
    -w ' HTTP %{http_code}' 2>&1 || true)
  case "$reply" in *" HTTP 2"??) ;; *) say "probe message refused by wasim: $reply"; return 1 ;; esac
  wait_until 10 '"$bin/waconnector" messages list --database-url "$url" --business-id acme --json 2>/dev/null | grep -q "$t"' 
}
if probe_messages; then messages=1; else say "messaging does not work end to end in this build: message counts are null (not measured)"; fi
sender_pid=""
start_traffic() {  # ROUND: the phone and the CLI each send one message every 100 ms
  [ "$messages" = 1 ] || return 0
  (
    i=0
    while [ ! -e "$work/stop-r$1" ]; do
      admin_ok POST "/admin/phones/$contact/messages" "{\"to\":\"$account_user\",\"text\":\"drill-r$1-in-$i\"}" >/dev/null 2>&1 &&
        echo "in $i" >>"$work/sent-r$1"
      "$bin/waconnector" messages send --database-url "$url" --business-id acme --to "$contact_jid" \
        --text "drill-r$1-out-$i" --id "drill-r$1-out-$i" >/dev/null 2>&1 && echo "out $i" >>"$work/sent-r$1"
      i=$((i + 1))
      sleep 0.1
    done
  ) &
  sender_pid=$!
}
stop_traffic() {  # ROUND -> "in_lost in_doubled out_lost out_doubled in_sent out_sent" (null: not measured)
  if [ "$messages" != 1 ]; then echo "null null null null null null"; return; fi
  touch "$work/stop-r$1"  # the loop ends after its current send, so every success is counted
  wait "$sender_pid" 2>/dev/null || true
  sleep 5  # delivery after the last send (retries, offline queue)
  local sent_in sent_out got_in got_out uniq_in uniq_out
  sent_in=$(grep -c '^in ' "$work/sent-r$1" || true)
  sent_out=$(grep -c '^out ' "$work/sent-r$1" || true)
  "$bin/waconnector" messages list --database-url "$url" --business-id acme --json >"$work/list-r$1" 2>/dev/null || true
  { grep -o "\"drill-r$1-in-[0-9]*\"" "$work/list-r$1" || true; } | tr -d '"' >"$work/got-in-r$1"
  admin GET "/admin/phones/$contact/messages" | jq -r '.messages[].text // empty' | grep "^drill-r$1-out-" \
    >"$work/got-out-r$1" || true
  got_in=$(wc -l <"$work/got-in-r$1"); uniq_in=$(sort -u "$work/got-in-r$1" | wc -l)
  got_out=$(wc -l <"$work/got-out-r$1"); uniq_out=$(sort -u "$work/got-out-r$1" | wc -l)
  echo "$((sent_in - uniq_in)) $((got_in - uniq_in)) $((sent_out - uniq_out)) $((got_out - uniq_out)) $sent_in $sent_out"
}

# ---- measurements --------------------------------------------------------------------------------
first_gain_after() {  # T_MS -> ms epoch of the first acquired|takeover at/after T (database clock = host)
  sql "SELECT (extract(epoch FROM min(at)) * 1000)::bigint FROM ha_events WHERE business_id = 'acme'
       AND kind IN ('acquired','takeover') AND at >= to_timestamp($1 / 1000.0)"
}
first_login_after() {  # T_MS -> ms epoch of the first login at wasim after T
  connections | jq -r --argjson t "$1" '[.[] | .logged_in_ms // 0 | select(. > $t)] | min // empty'
}
overlap_in() {  # FROM_MS TO_MS -> ms two logins were open at once within [FROM, TO]
  connections | jq -r --argjson a "$1" --argjson b "$2" '
    [ .[] | select(.logged_in_ms != null and .logged_in_ms > 0)
      | {s: ([.logged_in_ms, $a] | max), e: ([(if (.closed_ms // 0) > 0 then .closed_ms else $b end), $b] | min)}
      | select(.e > .s) ] as $iv
    | [ range(0; $iv | length) as $i | range($i + 1; $iv | length) as $j
        | ([$iv[$i].e, $iv[$j].e] | min) - ([$iv[$i].s, $iv[$j].s] | max) | select(. > 0) ] | add // 0'
}

# ---- faults --------------------------------------------------------------------------------------
cut_db() {
  nft -f - <<EOF
table netdev wadrill {
  chain in {
    type filter hook ingress device "$vh" priority 0; policy accept;
    ip saddr $ns_ip tcp dport $pg_port drop
  }
}
EOF
  ip netns exec "$ns" nft -f - <<EOF
table netdev wadrill {
  chain in {
    type filter hook ingress device "$vn" priority 0; policy accept;
    ip saddr $host_ip tcp sport $pg_port drop
  }
}
EOF
}
heal_db() {
  nft delete table netdev wadrill 2>/dev/null || true
  ip netns exec "$ns" nft delete table netdev wadrill 2>/dev/null || true
}
make_leader() {  # NAME: SIGTERM whoever leads (restarting it) until NAME leads, the others paused
  local target=$1 p l
  for _ in 1 2 3 4 5; do
    l=$(logged_in_pod)
    [ "$l" = "$target" ] && return 0
    for p in "${pods[@]}"; do
      if [ "$p" != "$target" ] && [ "$p" != "$l" ]; then kill -STOP "${pod_pid[$p]}" 2>/dev/null || true; fi
    done
    if [ -n "$l" ]; then kill -TERM "${pod_pid[$l]}"; wait_gone "${pod_pid[$l]}"; fi
    wait_until 15 '[ "$(logged_in_pod)" = "$target" ]' || true
    for p in "${pods[@]}"; do kill -CONT "${pod_pid[$p]}" 2>/dev/null || true; done
    if [ -n "$l" ]; then start_pod "$l"; fi
  done
  [ "$(logged_in_pod)" = "$target" ]
}

failed=0
results=()
run_round() {  # SCENARIO ROUND
  local sc=$1 r=$2 leader t_fault gain login takeover="null" logged="null" overlap margin="null" writable="null"
  local expect_login=1 fence_ts fence
  wait_until 60 '[ -n "$(logged_in_pod)" ]' || { say "round $r: nobody logged in before the fault"; failed=1; return; }
  [ "$sc" = partition ] && { make_leader pod-0 || { say "round $r: pod-0 could not be made leader"; failed=1; return; }; }
  [ "$sc" = pg-failover ] && bash "$src/scripts/patroni-cluster.sh" wait-replica "$work/patroni" >/dev/null
  leader=$(logged_in_pod)
  start_traffic "$r"
  sleep "0.$((RANDOM % 1000))"  # a random phase against heartbeats and polls
  t_fault=$(now_ms)
  case "$sc" in
    kill) kill -KILL "${pod_pid[$leader]}" || true ;;
    term) kill -TERM "${pod_pid[$leader]}" || true ;;
    stop) kill -STOP "${pod_pid[$leader]}" || true ;;
    partition) cut_db ;;
    pg-restart)
      bash "$src/scripts/pg-cluster.sh" stop "$work/pg" >/dev/null
      bash "$src/scripts/pg-cluster.sh" start "$work/pg" >/dev/null
      writable=$(($(now_ms) - t_fault)) ;;
    pg-failover)
      out=$(bash "$src/scripts/patroni-cluster.sh" failover kill "$work/patroni")
      t_fault=$(echo "$out" | tr ' ' '\n' | sed -n 's/^fault_at_ms=//p')
      writable=$(echo "$out" | tr ' ' '\n' | sed -n 's/^pg_writable_ms=//p') ;;
    replaced) admin POST "/admin/devices/$jid/replace" '{}' >/dev/null ;;
    logout) admin POST "/admin/devices/$jid/logout" '{}' >/dev/null; expect_login=0 ;;
  esac
  if [ "$expect_login" = 1 ]; then
    wait_until 60 '[ -n "$(first_login_after "$t_fault")" ]' || true
  else
    sleep 5  # nobody may log in again
  fi
  login=$(first_login_after "$t_fault")
  gain=$(first_gain_after "$t_fault")
  [ -n "$gain" ] && takeover=$((gain - t_fault))
  [ -n "$login" ] && logged=$((login - t_fault))
  if [ "$sc" = partition ]; then
    fence_ts=$(grep '"event":"fence_deadline_passed"' "$work/pod-0.log" | tail -n1 | jq -r '.ts // empty')
    if [ -n "$fence_ts" ] && [ -n "$gain" ]; then
      fence=$(date -d "$fence_ts" +%s%3N)
      [ "$fence" -ge "$t_fault" ] && margin=$((gain - fence))
    fi
  fi
  sleep 1
  overlap=$(overlap_in "$t_fault" "$(now_ms)")
  read -r in_lost in_dbl out_lost out_dbl in_sent out_sent <<<"$(stop_traffic "$r")"
  # Restore for the next round.
  case "$sc" in
    kill|term) wait_gone "${pod_pid[$leader]}"; start_pod "$leader" ;;
    stop) kill -CONT "${pod_pid[$leader]}" || true ;;
    partition) heal_db ;;
    logout)
      "$bin/waconnector" accounts pair --database-url "$url" --business-id acme >/dev/null 2>&1 </dev/null &
      pids+=($!)
      sql "UPDATE wa_accounts SET status = 'disconnected' WHERE business_id = 'acme' AND status = 'logged_out'" >/dev/null
      pair || { say "round $r: re-pairing after the logout failed"; failed=1; } ;;
  esac
  local line
  line=$(jq -cn --arg s "$sc" --argjson r "$r" --argjson t "$takeover" --argjson l "$logged" --argjson o "${overlap:-0}" \
    --argjson il "$in_lost" --argjson id "$in_dbl" --argjson ol "$out_lost" --argjson od "$out_dbl" \
    --argjson m "$margin" --argjson w "${writable:-null}" --argjson is "$in_sent" --argjson os "$out_sent" '
    {scenario: $s, round: $r, takeover_ms: $t, logged_in_ms: $l, overlap_ms: $o,
     inbound_lost: $il, inbound_doubled: $id, outbound_lost: $ol, outbound_doubled: $od,
     inbound_sent: $is, outbound_sent: $os}
    + (if $s == "partition" then {fence_margin_ms: $m} else {} end)
    + (if $s == "pg-failover" or $s == "pg-restart" then {pg_writable_ms: $w} else {} end)')
  results+=("$line")
  if [ "$json" = 1 ]; then echo "$line"; else
    printf '%-12s %5s %12s %13s %10s %18s %14s %16s\n' "$sc" "$r" "$takeover" "$logged" "${overlap:-0}" \
      "$in_lost/$in_dbl" "$out_lost/$out_dbl" "$(case "$sc" in partition) echo "$margin" ;; pg-failover|pg-restart) echo "$writable" ;; *) echo - ;; esac)"
  fi
  # A round fails when it overlapped, lost or doubled, or did not recover as expected.
  if [ "${overlap:-0}" != 0 ] || { [ "$expect_login" = 1 ] && [ "$logged" = null ]; } ||
     { [ "$expect_login" = 0 ] && [ "$logged" != null ]; }; then failed=1; fi
  for v in "$in_lost" "$in_dbl" "$out_lost" "$out_dbl"; do [ "$v" = null ] || [ "$v" = 0 ] || failed=1; done
}

choices=(kill term stop pg-restart replaced)
[ "$partition_ok" = 1 ] && [ -n "$ns" ] && choices+=(partition)
[ "$patroni" = 1 ] && choices=(kill term stop replaced pg-failover)
[ "$json" = 1 ] || printf '%-12s %5s %12s %13s %10s %18s %14s %16s\n' scenario round takeover_ms logged_in_ms \
  overlap_ms "in lost/doubled" "out lost/dbl" "margin|pg_writable"
for r in $(seq 1 "$rounds"); do
  sc=${sequence[$(((r - 1) % ${#sequence[@]}))]}
  if [ "$sc" = mixed ]; then sc=${choices[$((RANDOM % ${#choices[@]}))]}; fi
  run_round "$sc" "$r"
done

# Summary per scenario: p50 / p99 / max of logged_in_ms (stderr, so --json stays one object a line).
printf '%s\n' "${results[@]}" | jq -rs '
  group_by(.scenario)[] | . as $g | [$g[].logged_in_ms | select(. != null)] | sort as $v
  | "summary \($g[0].scenario): rounds=\($g | length) logged_in_ms p50=\($v[(($v | length) * 0.5 | floor)] // "-")"
    + " p99=\($v[((($v | length) * 0.99) | ceil) - 1] // "-") max=\($v[-1] // "-")"
    + " overlap_ms_total=\([$g[].overlap_ms] | add)"' >&2
exit "$failed"
