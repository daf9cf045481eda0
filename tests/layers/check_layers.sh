#!/usr/bin/env bash
# The shape rules of issue 7, checked on the source tree (no build needed):
#   - includes go one way: core includes nothing of ha/store/app/sim; store nothing of ha/app/sim;
#     sim nothing of ha/store/app; ha nothing of app/sim
#   - no dynamic_cast in app/ (the app reaches pairing through core::Connection's interface)
#   - no source file outside tests/ over 800 lines
#   - every table a migration creates is dropped by a later migration or named by code outside
#     store/migrations and tests/
# Prints every violation and exits 1 if there is any.
#   check_layers.sh [SOURCE_DIR]
set -euo pipefail
cd "${1:-$(dirname "$0")/../..}"
bad=0
fail() { echo "layers: $*"; bad=1; }

# Files git tracks when this is a checkout, else every file (a source tarball).
files() {
  if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then git ls-files -- "$@"; else find "$@" -type f; fi
}

check_includes() {  # layer, forbidden layers (regex alternation)
  local layer=$1 forbidden=$2 hits
  hits=$(files "$layer" | grep -E '\.(h|cpp)$' | xargs -r grep -nE "^\s*#\s*include\s*[\"<]($forbidden)/" || true)
  [ -z "$hits" ] || fail "$layer must not include $forbidden:"$'\n'"$hits"
}
check_includes core 'ha|store|app|sim'
check_includes store 'ha|app|sim'
check_includes sim 'ha|store|app'
check_includes ha 'app|sim'

casts=$(files app | grep -E '\.(h|cpp)$' | xargs -r grep -n 'dynamic_cast' || true)
[ -z "$casts" ] || fail "dynamic_cast in app/:"$'\n'"$casts"

while read -r n f; do
  [ "$f" = total ] && continue
  [ "$n" -le 800 ] || fail "$f has $n lines (limit 800 outside tests/)"
done < <(files . | grep -vE '^(\./)?tests/' | grep -E '\.(h|cpp|c|sh|mjs|js|py)$' | xargs -r wc -l)

migrations=$(files store/migrations | grep -E '\.sql$' | sort)
code=$(files . | grep -vE '^(\./)?(tests|store/migrations)/' | grep -E '\.(h|cpp)$')
# (grep reads the files itself: `cat | grep -q` under pipefail fails when grep stops early.)
# shellcheck disable=SC2086
for t in $(grep -hioE 'create table (if not exists )?[a-z_0-9]+' $migrations | awk '{print $NF}' | sort -u); do
  if grep -qiE "drop table (if exists )?$t\b" $migrations; then continue; fi
  grep -qw "$t" $code || fail "table $t is created by a migration but no code outside tests reads or writes it"
done

[ "$bad" -eq 0 ] && echo "layers: include rules, dynamic_cast, file sizes and migration tables hold"
exit "$bad"
