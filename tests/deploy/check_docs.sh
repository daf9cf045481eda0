#!/usr/bin/env bash
# docs/operations.md must stay in step with the binary and the manifests:
#  - every flag, environment variable and default that `COMMAND --help` prints is in the tables,
#  - every metric registered in common/metrics.cpp is listed,
#  - every alert of the PrometheusRule is listed and its runbook anchor exists.
# Usage: check_docs.sh PATH/TO/waconnector [--self-test]
#   --self-test: a copy of the doc with a flag's env, a default, a metric and a heading removed
#   must fail the check (proves the check can fail).
set -euo pipefail  # no "producer | grep -q" below: pipefail would count the producer's SIGPIPE
bin=${1:?usage: check_docs.sh WACONNECTOR_BINARY}
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
doc="${WACONN_DOCS_FILE:-$src/docs/operations.md}"  # override: for checking the check
[ -x "$bin" ] || { echo "check_docs: $bin is not executable" >&2; exit 1; }
[ -f "$doc" ] || { echo "check_docs: $doc missing" >&2; exit 1; }

if [ "${2:-}" = "--self-test" ]; then
  bad=$(mktemp)
  trap 'rm -f "$bad"' EXIT
  sed 's/`FENCE_AFTER`//; s/`waconnector_lock_lost_total`//; s/^### Flapping/### Flap/; s/| `500ms` |/| `400ms` |/' "$doc" >"$bad"
  out=$(WACONN_DOCS_FILE="$bad" bash "$0" "$bin" || true)
  rc=0
  for want in "FENCE_AFTER (env of run --fence-after)" "metric waconnector_lock_lost_total" \
              "heading for anchor #flapping" "default '500ms' of run --poll-interval"; do
    grep -qF -- "$want" <<<"$out" || { echo "self-test: drift not caught: $want"; rc=1; }
  done
  [ $rc -eq 0 ] && echo "check_docs self-test: every deliberate drift caught"
  exit $rc
fi

fail=0
missing() { echo "MISSING in docs/operations.md: $*"; fail=1; }
checked=0

for cmd in "run" "migrate" "accounts add" "accounts list" "accounts rekey" "accounts pair" "accounts step-down" "accounts remove"; do
  # shellcheck disable=SC2086
  help=$("$bin" $cmd --help) || { echo "waconnector $cmd --help failed"; fail=1; continue; }
  # "  --name [VALUE]" then "      text [env X] (default Y) (required)"
  while IFS=$'\t' read -r flag env def; do
    checked=$((checked + 1))
    grep -qF -- "\`$flag\`" "$doc" || missing "waconnector $cmd $flag"
    [ -z "$env" ] || grep -qF -- "\`$env\`" "$doc" || missing "$env (env of $cmd $flag)"
    # The --pod default is the machine's hostname: documented as such, not literally.
    if [ -n "$def" ] && [ "$flag" != "--pod" ]; then
      row=$(grep -F -- "\`$flag\`" "$doc" || true)
      grep -qF -- "\`$def\`" <<<"$row" || missing "default '$def' of $cmd $flag (on the flag's row)"
    fi
  done < <(printf '%s\n' "$help" | awk '
    /^  --/ { if (flag != "") print flag "\t" env "\t" def; flag = $1; env = ""; def = ""; next }
    /^      / && flag != "" {
      if (match($0, /\[env [A-Z0-9_]+\]/)) env = substr($0, RSTART + 5, RLENGTH - 6)
      if (match($0, /\(default [^)]*\)/)) def = substr($0, RSTART + 9, RLENGTH - 10)
    }
    END { if (flag != "") print flag "\t" env "\t" def }')
done

for m in $(grep -o '"waconnector_[a-z0-9_]*"' "$src/common/metrics.cpp" | tr -d '"' | sort -u); do
  checked=$((checked + 1))
  grep -qF -- "\`$m\`" "$doc" || missing "metric $m"
done

rules="$src/deploy/k8s/prometheusrule.yaml"
for a in $(grep -o '^ *- alert: [A-Za-z]*' "$rules" | sed 's/.*alert: //'); do
  checked=$((checked + 1))
  grep -qF -- "\`$a\`" "$doc" || missing "alert $a"
done
# Anchors the alerts and the alert table link to: GitHub slugs of the "###" headings.
slugs=$(grep '^#\+ ' "$doc" | sed 's/^#* //' | tr 'A-Z' 'a-z' | sed 's/[^a-z0-9 -]//g; s/ /-/g')
for anchor in $( (grep -o 'operations.md#[a-z0-9-]*' "$rules"; grep -o '](#[a-z0-9-]*)' "$doc" | sed 's/](#\(.*\))/operations.md#\1/') | sed 's/.*#//' | sort -u); do
  checked=$((checked + 1))
  grep -qx -- "$anchor" <<<"$slugs" || missing "heading for anchor #$anchor"
done

echo "check_docs: $checked items checked"
[ $checked -gt 40 ] || { echo "check_docs: suspiciously few items ($checked)"; exit 1; }
exit $fail
