#!/usr/bin/env bash
# Kill -9 a 100,000-item batch job half-way, restart the server, and check
# that the job finishes with exactly 100,000 stored predictions, each item
# once. Needs sqlite3 (apt-get install sqlite3) to count the rows.
#
#   scripts/batch-crash.sh
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-100000}
PORT=${PORT:-18400}
DATA=${DATA:-../shared/data}
command -v sqlite3 >/dev/null || { echo "batch-crash.sh: sqlite3 is not installed" >&2; exit 1; }
# shellcheck source=scripts/serverlib.sh
source scripts/serverlib.sh

go run ./scripts/batchdata -n "$N" "$DATA/dataset.csv" "$DATA/holdout.csv" > "$work/items.csv"
start_server
loc=$(curl -fsS -D - -o /dev/null -H 'Content-Type: text/csv' --data-binary @"$work/items.csv" "$URL/batch-jobs" |
  awk 'tolower($1) == "location:" {print $2}' | tr -d '\r')
[ -n "$loc" ] || { echo "batch-crash.sh: no Location" >&2; exit 1; }
job=${loc##*/}

field() { curl -fsS "$URL$loc" | sed -n "s/.*\"$1\":\"\{0,1\}\([^,\"}]*\).*/\1/p"; }
while :; do
  done_items=$(field done)
  [ "$done_items" -ge $((N / 2)) ] && break
  sleep 0.01
done
kill -9 "$pid"; wait "$pid" 2>/dev/null || true
killed_at=$done_items
echo "killed with kill -9 at $killed_at/$N items"

start_server
start=$SECONDS
until [ "$(field status)" = succeeded ]; do
  [ "$(field status)" = failed ] && { echo "batch-crash.sh: job failed" >&2; exit 1; }
  [ $((SECONDS - start)) -lt 120 ] || { echo "batch-crash.sh: job did not finish" >&2; exit 1; }
  sleep 0.05
done
read -r rows distinct < <(sqlite3 -separator ' ' "$work/data/registry.db" \
  "SELECT COUNT(*), COUNT(DISTINCT p.item_id) FROM batch_items i JOIN predictions p
     ON p.item_id = i.item_id AND p.model = 'tagifai' AND p.version = 1 WHERE i.job_id = '$job'")
echo "after restart: job $job succeeded, done $(field done); stored predictions $rows, distinct items $distinct (want $N)"
[ "$rows" = "$N" ] && [ "$distinct" = "$N" ]
