#!/usr/bin/env bash
# The local demo (README's first command): on a fresh Debian 12 machine, as root,
#   installs the build dependencies, builds Release in build/, starts a throwaway PostgreSQL
#   cluster and wasim (the WhatsApp Web server simulator), registers one account, starts three
#   replicas, lets a virtual phone pair the account by scanning the QR that a STANDBY pod serves,
#   shows the leader logged in, kills it (SIGKILL) and prints how long until another replica was
#   logged in again from the stored credentials (wasim's own timestamps), then does a graceful
#   handover (SIGTERM) the same way, and stops everything. Throughout, a second virtual phone (a
#   customer) and the connector exchange end-to-end encrypted messages: before, during and after
#   each leader change, the connector's side sent through the REST API of a STANDBY pod; a local
#   webhook receiver (scripts/webhook-receiver.mjs) gets the signed event deliveries across the
#   failovers and verifies each signature; at the end the demo counts what each side received
#   (lost 0, doubled 0) and what the receiver got (one event id per message, every signature valid).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

# The throwaway cluster is used as its superuser, which owns the tables, so row-level security
# cannot bind the pods: they run with the bypass allowed (docs/security.md; the manifests do not).
export ALLOW_RLS_BYPASS=1
say() { printf '\n== %s\n' "$*"; }

if [ -n "${WACONN_BIN_DIR:-}" ] && [ -x "$WACONN_BIN_DIR/waconnector" ] && [ -x "$WACONN_BIN_DIR/wasim" ]; then
  bindir="$WACONN_BIN_DIR"   # an existing build (CI, scripts/test.sh)
  echo "using $bindir"
else
  bash scripts/install-deps.sh
  say "building (Release, build/)"
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build build --target waconnector wasim -j"$(nproc)" >/dev/null
  bindir="$root/build/bin"
fi
bin="$bindir/waconnector"

work=$(mktemp -d /tmp/waconn-demo.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  bash "$root/scripts/pg-cluster.sh" stop "$work/pg" >/dev/null 2>&1 || true
  # WACONN_DEMO_KEEP=1 keeps the logs (pods, wasim and its state) for a look afterwards.
  if [ "${WACONN_DEMO_KEEP:-0}" = 1 ]; then echo "logs kept in $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT INT TERM

say "starting a throwaway PostgreSQL cluster"
DATABASE_URL=$(bash scripts/pg-cluster.sh start "$work/pg")
export DATABASE_URL
echo "database: $DATABASE_URL"

"$bin" migrate
"$bin" accounts add --business-id demo
# The account's API token (shown once; the database keeps only its hash).
api_token=$("$bin" tokens create --business-id demo --name demo | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
sql() { psql "$DATABASE_URL" -X -q -t -A -c "$1"; }

say "starting wasim (WhatsApp Web simulator)"
mkdir -m 700 "$work/wasim"
"$bindir/wasim" --listen 127.0.0.1:0 --admin 127.0.0.1:0 --state "$work/wasim" 2>"$work/wasim.log" &
pids+=("$!")
for _ in $(seq 1 500); do grep -q '"wasim_listening"' "$work/wasim.log" && break; sleep 0.02; done
ws_port=$(grep -o '"ws_port":[0-9]*' "$work/wasim.log" | head -1 | cut -d: -f2)
admin_port=$(grep -o '"admin_port":[0-9]*' "$work/wasim.log" | head -1 | cut -d: -f2)
root_key=$(grep -o '"root_public_key":"[0-9a-f]*"' "$work/wasim.log" | head -1 | cut -d'"' -f4)
[ -n "$ws_port" ] && [ -n "$admin_port" ] && [ -n "$root_key" ] || { echo "wasim did not start:"; cat "$work/wasim.log"; exit 1; }
admin="http://127.0.0.1:$admin_port/admin"
echo "wasim: ws://127.0.0.1:$ws_port/ws/chat (root key ${root_key:0:16}...)"

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()' 2>/dev/null \
    || echo $((20000 + RANDOM % 20000))
}

declare -A port_of pid_of
start_replica() {
  local pod=$1 port
  port=$(free_port)
  "$bin" run --pod "$pod" --http "127.0.0.1:$port" --business-id demo \
    --wa-url "ws://127.0.0.1:$ws_port/ws/chat" --wa-root-key "$root_key" >>"$work/$pod.log" 2>&1 &
  pid_of[$pod]=$!
  port_of[$pod]=$port
  pids+=("$!")
}

say "starting three replicas (poll standbys, 500 ms ±20%; heartbeat 1 s; fence after 3 s)"
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
echo "leader: $leader (lease epoch $epoch); it connected to wasim and shows a QR"

say "pairing: a virtual phone scans the QR served by a STANDBY pod"
standby=demo-0; [ "$leader" = demo-0 ] && standby=demo-1
qr_json=""
for _ in $(seq 1 1500); do
  qr_json=$(curl -s -H "Authorization: Bearer $api_token" "http://127.0.0.1:${port_of[$standby]}/v1/accounts/demo/qr" || true)
  case "$qr_json" in *'"qr":"'*) break ;; esac
  sleep 0.02
done
qr=$(printf '%s' "$qr_json" | sed -n 's/.*"qr":"\([^"]*\)".*/\1/p')
[ -n "$qr" ] || { echo "no QR served by $standby: $qr_json"; exit 1; }
echo "$standby serves GET /v1/accounts/demo/qr: ${qr:0:48}..."
echo "(a person would scan it: waconnector accounts pair --business-id demo prints it in the terminal)"
phone=+15550001234
curl -s -X POST -H 'Content-Type: application/json' -d "{\"phone\":\"$phone\"}" "$admin/phones" >/dev/null
curl -s -X POST -H 'Content-Type: application/json' -d "{\"qr\":\"$qr\"}" "$admin/phones/$phone/link"; echo
jid=""
for _ in $(seq 1 1500); do
  jid=$(sql "SELECT jid FROM wa_accounts WHERE business_id = 'demo' AND status = 'connected'")
  [ -n "$jid" ] && break
  sleep 0.02
done
[ -n "$jid" ] || { echo "the account did not log in after pairing"; tail -5 "$work/$leader.log"; exit 1; }
echo "paired and logged in: device ${jid:0:4}*** ; the account's lock moved to hashtext(jid)"

say "a local webhook receiver, registered through the REST API of a standby"
node "$root/scripts/webhook-receiver.mjs" --secret-file "$work/webhook.secret" >"$work/webhooks.log" 2>&1 &
pids+=("$!")
hook_url=""
for _ in $(seq 1 500); do
  hook_url=$(sed -n 's/.*"event":"listening","url":"\([^"]*\)".*/\1/p' "$work/webhooks.log" | head -1)
  [ -n "$hook_url" ] && break
  sleep 0.02
done
[ -n "$hook_url" ] || { echo "the webhook receiver did not start:"; cat "$work/webhooks.log"; exit 1; }
hook=$(curl -s -X POST -H "Authorization: Bearer $api_token" -H 'Content-Type: application/json' \
  -d "{\"url\":\"$hook_url\",\"events\":[\"*\"]}" "http://127.0.0.1:${port_of[$standby]}/v1/accounts/demo/webhooks")
(umask 077 && jq -r .secret <<<"$hook" >"$work/webhook.secret")
echo "$standby: POST /v1/accounts/demo/webhooks -> webhook $(jq -r .id <<<"$hook") for $hook_url, every event type;"
echo "its secret (whsec_..., shown once) signs each delivery: webhook-signature = v1,base64(HMAC-SHA256(id.timestamp.body))"
webhooks_shown=0
show_webhooks() {  # the deliveries the receiver printed since the last call
  local n
  n=$(grep -c '"event":"delivery"' "$work/webhooks.log" || true)
  grep '"event":"delivery"' "$work/webhooks.log" | tail -n +$((webhooks_shown + 1)) | head -n $((n - webhooks_shown)) \
    | jq -r '"  webhook \(.type) #\(.sequence) \(.about // "" | tostring) -> \(.status), signature \(.signature) (\(.webhook_id))"'
  webhooks_shown=$n
}

say "who leads"
for pod in demo-0 demo-1 demo-2; do
  printf '%s /status: %s\n' "$pod" "$(curl -s "http://127.0.0.1:${port_of[$pod]}/status")"
done

# The newest login of the device that wasim still has open, after $1 (unix ms); empty if none.
live_login_after() {
  curl -s "$admin/devices/$jid/connections" | tr '{' '\n' | grep '"logged_in_ms":[1-9]' | grep -E '"closed_ms":(null|0)[,}]' \
    | sed -n 's/.*"logged_in_ms":\([0-9]*\).*/\1/p' | awk -v t="$1" '$1 > t' | tail -1
}
wait_login_after() {
  local at
  for _ in $(seq 1 3000); do
    at=$(live_login_after "$1")
    [ -n "$at" ] && { echo "$at"; return 0; }
    sleep 0.01
  done
  echo "no new login within 30 s" >&2
  return 1
}

say "messages: a customer (another virtual phone) and the connector chat, end to end encrypted"
customer=+15550009876
customer_jid=15550009876@s.whatsapp.net
curl -s -X POST -H 'Content-Type: application/json' -d "{\"phone\":\"$customer\"}" "$admin/phones" >/dev/null
n_in=0
n_out=0
out_ids=()
# customer -> account: the phone encrypts for every device of the account's number (wasim queues it
# for a device that is offline, e.g. while no pod leads).
customer_sends() {
  local i
  for i in $(seq 1 "$1"); do
    n_in=$((n_in + 1))
    local st
    st=$(curl -s -o "$work/post.json" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
      -d "{\"to\":\"$phone\",\"text\":\"in-$n_in ($2)\"}" "$admin/phones/$customer/messages")
    [ "$st" = 200 ] || { echo "customer could not send: $st $(cat "$work/post.json")"; exit 1; }
  done
}
# A running pod that does not lead ("name port"): the application may call any pod.
standby_pod() {
  local pod st
  for pod in "${!port_of[@]}"; do
    st=$(curl -s -m 1 "http://127.0.0.1:${port_of[$pod]}/status") || continue
    case "$st" in '' | *'"role":"leader"'* | *'"role":"active"'*) continue ;; esac
    echo "$pod ${port_of[$pod]}"
    return 0
  done
  return 1
}
# account -> customer: POST /v1/accounts/demo/messages on a standby pod with an Idempotency-Key;
# the row is queued durably in wa_outbox and the leader sends it.
connector_sends() {
  local i pod port reply
  read -r pod port < <(standby_pod) || { echo "no standby pod answers"; exit 1; }
  for i in $(seq 1 "$1"); do
    n_out=$((n_out + 1))
    reply=$(curl -s -X POST -H "Authorization: Bearer $api_token" -H 'Content-Type: application/json' \
      -H "Idempotency-Key: demo-out-$n_out" -d "{\"to\":\"$customer_jid\",\"text\":\"out-$n_out ($2)\"}" \
      "http://127.0.0.1:$port/v1/accounts/demo/messages")
    out_ids+=("$(jq -r .id <<<"$reply")")
  done
  sent_via=$pod
}
chat_round() {  # $1 = when
  customer_sends 3 "$1"
  connector_sends 3 "$1"
  echo "$1: the customer sent 3 (in-$((n_in - 2))..in-$n_in), the connector POSTed 3 to standby $sent_via (out-$((n_out - 2))..out-$n_out)"
}
chat_round "before the kill"
# A client retry (same Idempotency-Key, same body) gets the same message, not a second one.
again=$(curl -s -D "$work/again.h" -X POST -H "Authorization: Bearer $api_token" -H 'Content-Type: application/json' \
  -H "Idempotency-Key: demo-out-$n_out" -d "{\"to\":\"$customer_jid\",\"text\":\"out-$n_out (before the kill)\"}" \
  "http://127.0.0.1:${port_of[$leader]}/v1/accounts/demo/messages")
echo "the same POST again (same Idempotency-Key, to the leader this time): id $(jq -r .id <<<"$again") ($(tr -d '\r' <"$work/again.h" | grep -i '^idempotent-replayed' || echo 'not replayed!')); first answer was ${out_ids[-1]}"
[ "$(jq -r .id <<<"$again")" = "${out_ids[-1]}" ] || { echo "IDEMPOTENCY-KEY RETRY GOT ANOTHER ID"; exit 1; }

say "killing the leader $leader with SIGKILL"
t0=$(date +%s%3N)
kill -9 "${pid_of[$leader]}"
chat_round "while no pod leads"
login_ms=$(wait_login_after "$t0")
ev=$(wait_new_leader "$ev_id")
read -r ev_id new_leader new_epoch at_ms <<<"$ev"
echo "takeover: $new_leader won the lock $((at_ms - t0)) ms after the kill and was LOGGED IN to WhatsApp (wasim) $((login_ms - t0)) ms after the kill, from the stored credentials (no re-pairing)"
sql "SELECT assigned_pod, previous_pod, failover_count, session_restore_count, lease_epoch FROM wa_accounts WHERE business_id = 'demo'" \
  | awk -F'|' '{printf "wa_accounts: assigned_pod=%s previous_pod=%s failover_count=%s session_restore_count=%s lease_epoch=%s\n", $1, $2, $3, $4, $5}'
echo "signed webhook deliveries that reached the local receiver so far (sent by whichever pod led):"
show_webhooks

say "restarting $leader as a standby, then a graceful handover: SIGTERM to $new_leader"
start_replica "$leader"
standbys_polling
t0=$(date +%s%3N)
kill -TERM "${pid_of[$new_leader]}"
chat_round "during the handover"
login_ms=$(wait_login_after "$t0")
ev=$(wait_new_leader "$ev_id")
read -r ev_id third third_epoch at_ms <<<"$ev"
rc=0
wait "${pid_of[$new_leader]}" || rc=$?
echo "handover: $third logged in $((login_ms - t0)) ms after SIGTERM to $new_leader (it resigned, unlocked and sent NOTIFY; exit code $rc)"
echo "webhook deliveries since:"
show_webhooks

chat_round "after the handover"

say "what each side received"
# Every text once: the account's inbox (wa_inbox, written in the same transaction as the Signal
# ratchet before the ack) and the customer's phone; outbound rows until the customer's delivery receipt.
# (The customer's messages arrive from its LID, as the real service addresses 1:1 chats today.)
inbox_texts() { "$bin" messages list --business-id demo --json | jq -r '.text'; }
phone_texts() { curl -s "$admin/phones/$customer/messages" | jq -r '.messages[] | select(.text != null) | .text'; }
count_of() {  # $1 = prefix (in|out), $2 = how many, stdin = texts; prints "lost doubled which"
  awk -v p="$1" -v n="$2" '{ if (match($0, "^" p "-[0-9]+ ")) { k = substr($0, length(p) + 2); sub(/ .*/, "", k); c[k]++ } }
    END { lost = 0; dbl = 0; which = "";
          for (i = 1; i <= n; i++) { if (!(i in c)) { lost++; which = which " " p "-" i " lost" } else if (c[i] > 1) { dbl++; which = which " " p "-" i " x" c[i] } }
          print lost, dbl, which }'
}
delivered_count() {
  local n=0 id
  for id in "${out_ids[@]}"; do
    case "$("$bin" messages status --business-id demo --id "$id" | jq -r .status)" in delivered | read) n=$((n + 1)) ;; esac
  done
  echo "$n"
}
webhook_summary() { curl -s "${hook_url%/*}/summary"; }
# (a delivery the killed leader had claimed waits out its 10 s request timeout, then the new leader sends it)
for _ in $(seq 1 600); do
  [ "$(inbox_texts | grep -c '^in-')" -ge "$n_in" ] && [ "$(phone_texts | grep -c '^out-')" -ge "$n_out" ] \
    && [ "$(delivered_count)" -ge "$n_out" ] && [ "$(webhook_summary | jq .received_texts)" -ge "$n_in" ] \
    && [ "$(webhook_summary | jq .delivered_statuses)" -ge "$n_out" ] && break
  sleep 0.1
done
read -r in_lost in_doubled in_which < <(inbox_texts | count_of in "$n_in")
read -r out_lost out_doubled out_which < <(phone_texts | count_of out "$n_out")
echo "customer -> connector: sent $n_in, in the account's inbox $(inbox_texts | grep -c '^in-'): lost $in_lost, doubled $in_doubled${in_which:+ (${in_which})}"
echo "connector -> customer: queued $n_out, on the customer's phone $(phone_texts | grep -c '^out-'): lost $out_lost, doubled $out_doubled${out_which:+ (${out_which})}; delivered (receipt back) $(delivered_count)/$n_out"
echo "the account's inbox, as an application reads it (waconnector messages list --json), last 3:"
"$bin" messages list --business-id demo --json | tail -3 | sed 's/^/  /'
[ "$in_lost$in_doubled$out_lost$out_doubled" = 0000 ] || { echo "MESSAGES LOST OR DOUBLED"; exit 1; }
[ "$(delivered_count)" = "$n_out" ] || { echo "A SENT MESSAGE NEVER REACHED delivered (its receipt was lost)"; exit 1; }

say "what the webhook receiver got (Standard Webhooks signatures checked with its own HMAC)"
show_webhooks | tail -6
echo "  ..."
summary=$(webhook_summary)
echo "webhooks: $(jq -r '"\(.attempts) deliveries of \(.events) events (\(.types | to_entries | map("\(.value) \(.key)") | join(", "))), signatures valid \(.signatures_valid)/\(.signatures_checked), message.received for \(.received_texts) texts, each under one event id: \(if (.received_texts_twice | length) == 0 then "yes" else "NO" end), delivered statuses \(.delivered_statuses)"' <<<"$summary")"
jq -e --argjson n_in "$n_in" --argjson n_out "$n_out" \
  '.signatures_checked > 0 and .signatures_valid == .signatures_checked and .received_texts == $n_in and (.received_texts_twice | length) == 0 and .delivered_statuses == $n_out' \
  <<<"$summary" >/dev/null || { echo "WEBHOOKS: A MESSAGE MISSING OR UNDER TWO EVENT IDS, OR A SIGNATURE DID NOT VERIFY: $summary"; exit 1; }

say "wasim's connection list for the device (one live login at a time)"
curl -s "$admin/devices/$jid/connections" | tr '{' '\n' | grep opened_ms | sed 's/[{}]//g; s/^/  /'

say "ha_events"
sql "SELECT to_char(at, 'HH24:MI:SS.MS') || '  ' || rpad(pod, 8) || rpad(kind, 10) || 'epoch ' || coalesce(epoch::text, '-')
     FROM ha_events WHERE business_id = 'demo' ORDER BY id"

say "done. Stopping everything."
