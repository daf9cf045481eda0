#!/usr/bin/env bash
# ctest entry for deploy/k8s. Modes:
#   manifests  schema + whitelist + HA properties of every manifest (node validate.mjs)
#   selftest   the validator catches a list of deliberate mistakes
#   rules      promtool check rules + promtool test rules (alerts_test.yml) on the PrometheusRule;
#              every alert must have a test case in which it fires
#   dashboard  deploy/grafana/waconnector-dashboard.json: JSON, panels, metrics (prometheus_inputs.mjs),
#              every expression through `promtool check rules`; plus the checker's self-test
# Needs `npm ci` in tests/deploy (scripts/test.sh does it) and promtool (Debian 'prometheus').
# Missing tools fail the test; they never skip it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
mode=${1:?usage: check.sh manifests|selftest|rules}

command -v node >/dev/null || { echo "check.sh: node not found" >&2; exit 1; }
[ -d "$here/node_modules/kubernetes-models" ] || { echo "check.sh: run 'npm ci' in $here first" >&2; exit 1; }
validate=(node "$here/validate.mjs" "$src/deploy/k8s" "$src/common/metrics.cpp")

case "$mode" in
  manifests) "${validate[@]}" ;;
  selftest) "${validate[@]}" --self-test ;;
  rules)
    promtool=${PROMTOOL:-/usr/bin/promtool}
    [ -x "$promtool" ] || { echo "check.sh: promtool not found at $promtool" >&2; exit 1; }
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    "${validate[@]}" --emit-rules "$tmp/rules.yml" >/dev/null || { echo "manifests invalid; see the manifests test" >&2; exit 1; }
    cp "$here/alerts_test.yml" "$tmp/"
    "$promtool" check rules "$tmp/rules.yml"
    (cd "$tmp" && "$promtool" test rules alerts_test.yml)
    # An alert without a firing case is untested: its expression could never fire and pass.
    missing=0
    for a in $(sed -n 's/^ *- alert: \([A-Za-z]*\).*/\1/p' "$src/deploy/k8s/prometheusrule.yaml"); do
      fires=$(awk -v a="$a" '/alertname:/ { cur = $2 } /exp_labels:/ && cur == a { n++ } END { print n + 0 }' "$here/alerts_test.yml")
      if [ "$fires" -eq 0 ]; then echo "alerts_test.yml: no case in which $a fires"; missing=1; fi
    done
    [ $missing -eq 0 ] || exit 1
    echo "every alert has a firing case in alerts_test.yml"
    ;;
  dashboard)
    promtool=${PROMTOOL:-/usr/bin/promtool}
    [ -x "$promtool" ] || { echo "check.sh: promtool not found at $promtool" >&2; exit 1; }
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    dash="$src/deploy/grafana/waconnector-dashboard.json"
    node "$here/prometheus_inputs.mjs" dashboard "$dash" "$src/common/metrics.cpp" "$tmp/dashboard.yml"
    "$promtool" check rules "$tmp/dashboard.yml"
    node "$here/prometheus_inputs.mjs" dashboard "$dash" "$src/common/metrics.cpp" "$tmp/x.yml" --self-test
    # promtool must reject a broken expression, or the check above proves nothing.
    printf 'groups:\n  - name: broken\n    rules:\n      - record: x\n        expr: sum by (pod (waconnector_leader)\n' >"$tmp/broken.yml"
    if "$promtool" check rules "$tmp/broken.yml" >/dev/null 2>&1; then echo "promtool accepted a broken expression" >&2; exit 1; fi
    ;;
  *) echo "check.sh: unknown mode $mode" >&2; exit 2 ;;
esac
