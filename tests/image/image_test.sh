#!/usr/bin/env bash
# Builds the image with scripts/image.sh and runs it with `buildah run` (chroot isolation, host
# network, private vfs storage): the archive's name, labels, user and entrypoint; the same commit
# gives the same image twice; no shell inside; `--help`; `migrate` and `accounts add` against the
# test's PostgreSQL over TCP 127.0.0.1; a `run` replica as uid 65532 that leads an account
# (wasim on the host), serves /status and /metrics, and resigns on SIGTERM.
# Usage: image_test.sh PATH/TO/wasim     (needs WACONN_TEST_DATABASE_URL, psql, buildah)
set -euo pipefail
wasim_bin=${1:?usage: image_test.sh PATH/TO/wasim}
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
base_url=${WACONN_TEST_DATABASE_URL:?WACONN_TEST_DATABASE_URL must be set (scripts/pg-cluster.sh start DIR)}

fail() { echo "FAIL: $*" >&2; exit 1; }
command -v buildah >/dev/null || fail "buildah not installed (bash scripts/install-deps.sh installs it)"
command -v psql >/dev/null || fail "psql not installed"
[ -x "$wasim_bin" ] || fail "$wasim_bin not executable"

work=$(mktemp -d /tmp/waconn-image-test.XXXXXX)
B=(buildah --root "$work/storage" --runroot "$work/run" --storage-driver vfs)
db="waconn_image_$$"
wasim_pid=""
replica_pid=""
cleanup() {
  [ -z "$replica_pid" ] || kill -KILL "$replica_pid" 2>/dev/null || true
  [ -z "$wasim_pid" ] || kill -KILL "$wasim_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  "${B[@]}" rm --all >/dev/null 2>&1 || true
  psql -q -X "$base_url" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# Can buildah make containers at all here? Only this is a reason to skip.
if ! probe=$("${B[@]}" from --quiet scratch 2>&1); then
  echo "SKIP: buildah cannot create containers on this machine: $probe"
  exit 77
fi
"${B[@]}" rm --all >/dev/null

# 1. Build (twice: reproducible).
t0=$(date +%s)
out=$(bash "$src/scripts/image.sh" 2>"$work/image.log") || { cat "$work/image.log" >&2; fail "image.sh failed"; }
cat "$work/image.log"
archive_rel=$(tail -n1 <<<"$out")
archive="$src/$archive_rel"
[ -f "$archive" ] || fail "image.sh's last line '$archive_rel' is not a file under the repository root"
version=$(sed -n 's/^project(waconnector VERSION \([0-9][0-9.]*\).*/\1/p' "$src/CMakeLists.txt")
[ "$archive_rel" = "build/waconnector-$version.oci.tar" ] || fail "archive path $archive_rel"
index=$(tar -xOf "$archive" index.json)
grep -qF "\"org.opencontainers.image.ref.name\":\"waconnector:$version\"" <<<"$index" || fail "archive is not tagged waconnector:$version: $index"
digest1=$(grep -o 'sha256:[0-9a-f]*' <<<"$index" | head -n1)
echo "image: $archive_rel $(stat -c %s "$archive") bytes, manifest $digest1, built in $(( $(date +%s) - t0 )) s"
bash "$src/scripts/image.sh" >/dev/null 2>"$work/image2.log" || { cat "$work/image2.log" >&2; fail "second image.sh failed"; }
digest2=$(tar -xOf "$archive" index.json | grep -o 'sha256:[0-9a-f]*' | head -n1)
[ "$digest1" = "$digest2" ] || fail "not reproducible: manifest $digest1 then $digest2"
echo "ok   reproducible: the second build has the same manifest digest"
# The manifests deploy exactly this name.
for f in "$src"/deploy/k8s/statefulset.yaml; do
  n=$(grep -c "image: waconnector:$version\$" "$f" || true)
  [ "$n" -ge 2 ] || fail "$f does not reference waconnector:$version (init container and container)"
done

# 2. Image configuration.
ctr=$("${B[@]}" from --quiet "oci-archive:$archive")
cfg=$("${B[@]}" inspect --format '{{.OCIv1.Config.User}}|{{.OCIv1.Config.Entrypoint}}|{{index .OCIv1.Config.Labels "org.opencontainers.image.version"}}|{{index .OCIv1.Config.Labels "org.opencontainers.image.revision"}}|{{index .OCIv1.Config.Labels "org.opencontainers.image.source"}}' "$ctr")
IFS='|' read -r user entry lversion lrevision lsource <<<"$cfg"
[ "$user" = "65532:65532" ] || fail "image user is '$user', want 65532:65532"
[ "$entry" = "[/usr/local/bin/waconnector]" ] || fail "entrypoint is $entry"
[ "$lversion" = "$version" ] || fail "version label '$lversion'"
[ -n "$lrevision" ] && [ "$lrevision" != unknown ] || fail "revision label '$lrevision'"
[ -n "$lsource" ] || fail "no source label"
echo "ok   config: user $user, entrypoint $entry, labels version=$lversion revision=$lrevision source=$lsource"
# XDG_STATE_HOME: `run` without --kek-file generates its local KEK there (docs/security.md); the
# image's user has no home, and /tmp is its only writable directory.
run=("${B[@]}" run --isolation chroot --network host --env XDG_STATE_HOME=/tmp --env ALLOW_RLS_BYPASS=1 "$ctr" --)
if "${run[@]}" /bin/sh -c true >/dev/null 2>&1; then fail "the image contains a shell"; fi
echo "ok   no /bin/sh in the image"

# 3. --help (the entrypoint binary with all its libraries).
help=$("${run[@]}" /usr/local/bin/waconnector --help) || fail "--help failed in the image"
grep -q '^usage: waconnector COMMAND' <<<"$help" || fail "--help printed: $help"
echo "ok   --help"

# 4. migrate + accounts add over TCP (the unix socket of the test cluster is not in the chroot).
port=$(psql -X -At "$base_url" -c 'SHOW port')
psql -q -X "$base_url" -c "CREATE DATABASE $db" >/dev/null
url="postgresql://postgres@127.0.0.1:$port/$db"
m1=$("${run[@]}" /usr/local/bin/waconnector migrate --database-url "$url" 2>"$work/migrate.log") || { cat "$work/migrate.log" >&2; fail "migrate failed"; }
m2=$("${run[@]}" /usr/local/bin/waconnector migrate --database-url "$url" 2>>"$work/migrate.log") || fail "second migrate failed"
grep -q 'schema up to date' <<<"$m2" || fail "second migrate said: $m2"
n=$(psql -X -At "postgresql://postgres@127.0.0.1:$port/$db" -c "SELECT count(*) FROM wa_accounts")
[ "$n" = 0 ] || fail "fresh schema has $n accounts"
echo "ok   migrate: $(tr "\n" " " <<<"$m1")/ then: $(tr "\n" " " <<<"$m2")"
"${run[@]}" /usr/local/bin/waconnector accounts add --database-url "$url" --business-id imgtest >/dev/null 2>"$work/add.log" \
  || { cat "$work/add.log" >&2; fail "accounts add failed"; }

# 5. A replica in the image leads the account (wasim on the host, reached over 127.0.0.1).
mkdir -p "$work/wasim"  # wasim keeps its queue there and does not create the directory
"$wasim_bin" --listen 127.0.0.1:0 --admin 127.0.0.1:0 --state "$work/wasim" >"$work/wasim.log" 2>&1 &
wasim_pid=$!
field() {  # field EVENT KEY FILE: value of "KEY" on the last EVENT line of a JSON-lines log
  { grep "\"event\":\"$1\"" "$3" || true; } | tail -n1 | sed -n "s/.*\"$2\":\"\{0,1\}\([^\",}]*\).*/\1/p"
}
for _ in $(seq 100); do
  ws=$(field wasim_listening ws_port "$work/wasim.log"); rootkey=$(field wasim_root_key root_public_key "$work/wasim.log")
  [ -n "$ws" ] && [ -n "$rootkey" ] && break
  sleep 0.1
done
[ -n "$ws" ] && [ -n "$rootkey" ] || { cat "$work/wasim.log" >&2; fail "wasim did not start"; }
pod="image-test-$$"
"${run[@]}" /usr/local/bin/waconnector run --database-url "$url" --pod "$pod" --http 127.0.0.1:0 \
  --wa-url "ws://127.0.0.1:$ws/ws/chat" --wa-root-key "$rootkey" --business-id imgtest 2>"$work/replica.log" &
replica_pid=$!
http=""
for _ in $(seq 200); do
  http=$(field http_listening port "$work/replica.log"); [ -n "$http" ] && break; sleep 0.1
done
[ -n "$http" ] || { cat "$work/replica.log" >&2; fail "the replica in the image never listened"; }
status=""
for _ in $(seq 300); do
  status=$(curl -s "http://127.0.0.1:$http/status" || true)
  grep -q '"role":"\(leader\|active\)"' <<<"$status" && grep -q '"connection":"pairing"' <<<"$status" && break
  sleep 0.1
done
grep -q '"role":"\(leader\|active\)"' <<<"$status" || { tail -20 "$work/replica.log" >&2; fail "the replica did not lead: $status"; }
grep -q '"connection":"pairing"' <<<"$status" || fail "the leader's WhatsApp connection is not pairing: $status"
assigned=$(psql -X -At "$url" -c "SELECT assigned_pod FROM wa_accounts WHERE business_id = 'imgtest'")
[ "$assigned" = "$pod" ] || fail "wa_accounts.assigned_pod is '$assigned', want $pod"
metrics=$(curl -s "http://127.0.0.1:$http/metrics")
grep -q '^waconnector_leader{business_id="imgtest"} 1' <<<"$metrics" || fail "/metrics has no leader=1: $(grep leader <<<"$metrics")"
# The process inside the container runs as 65532 (found by its unique pod argument).
inner=""
for p in /proc/[0-9]*; do
  if tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -q "^/usr/local/bin/waconnector run .*--pod $pod"; then inner=${p#/proc/}; fi
done
[ -n "$inner" ] || fail "no waconnector process with --pod $pod found"
uid=$(awk '/^Uid:/ { print $2 }' "/proc/$inner/status")
[ "$uid" = 65532 ] || fail "the replica runs as uid $uid"
echo "ok   run: led imgtest with a pairing connection as uid $uid, /status and /metrics served on 127.0.0.1:$http"

# 6. SIGTERM: graceful resign, exit 0.
kill -TERM "$inner"
rc=0
wait "$replica_pid" || rc=$?
replica_pid=""
[ "$rc" = 0 ] || { tail -20 "$work/replica.log" >&2; fail "replica exit code $rc after SIGTERM"; }
grep -q '"event":"resigned"\|"event":"elector_stopped"' "$work/replica.log" || fail "no resign/stop in the replica log"
echo "ok   SIGTERM: exit 0 after resigning"
echo "image test: passed"
