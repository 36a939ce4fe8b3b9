#!/usr/bin/env bash
# The time to 202 of POST /batch-jobs with N typical items (default
# 100,000), as CSV and as JSON, each posted R times (default 3) to one
# server; DATABASE_URL=postgres://... measures PostgreSQL instead of SQLite.
#
#   scripts/batch-intake.sh
#   DATABASE_URL=postgres://... N=100000 R=5 scripts/batch-intake.sh
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-100000}
R=${R:-3}
PORT=${PORT:-18410}
DATA=${DATA:-../shared/data}
source scripts/serverlib.sh

db_flags=()
[[ -n ${DATABASE_URL:-} ]] && db_flags=(--database-url "$DATABASE_URL")
go run ./scripts/batchdata -n "$N" "$DATA/dataset.csv" "$DATA/holdout.csv" > "$work/items.csv"
go run ./scripts/batchdata -json -n "$N" "$DATA/dataset.csv" "$DATA/holdout.csv" > "$work/items.json"
# Each job is worked as it arrives; one worker keeps the second core for
# the intake being measured.
start_server "${db_flags[@]}" --batch-workers 1
for kind in csv json; do
  case $kind in csv) ct=text/csv ;; json) ct=application/json ;; esac
  for i in $(seq 1 "$R"); do
    read -r code secs < <(curl -sS -o /dev/null -w '%{http_code} %{time_total}\n' -H "Content-Type: $ct" \
      --data-binary @"$work/items.$kind" "$URL/batch-jobs")
    [ "$code" = 202 ] || { echo "batch-intake.sh: $kind: HTTP $code" >&2; tail -5 "$work/server.log" >&2; exit 1; }
    echo "$kind $N items ($(stat -c %s "$work/items.$kind") bytes): 202 after $secs s"
  done
done
