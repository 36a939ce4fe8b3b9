#!/usr/bin/env bash
# Kill -9 a 100,000-item batch job half-way, restart the server, and check
# that the job finishes with exactly 100,000 stored predictions, each item
# counted once (the job's done and its per-replica counts). Also prints how
# long the 202 took. Needs sqlite3 (apt-get install sqlite3) to count the
# rows, or psql with DATABASE_URL set (a postgres:// URL of an empty
# database, e.g. from scripts/postgres.sh) to run on PostgreSQL.
#
#   scripts/batch-crash.sh
#   DATABASE_URL=postgres://... scripts/batch-crash.sh
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-100000}
PORT=${PORT:-18400}
DATA=${DATA:-../shared/data}
# shellcheck source=scripts/serverlib.sh
source scripts/serverlib.sh

db_flags=()
if [[ -n ${DATABASE_URL:-} ]]; then
  command -v psql >/dev/null || { echo "batch-crash.sh: psql is not installed" >&2; exit 1; }
  db_flags=(--database-url "$DATABASE_URL")
  # psql takes no search_path in a URL (pgx does): pass it as an option.
  schema=$(sed -n 's/.*[?&]search_path=\([^&]*\).*/\1/p' <<< "$DATABASE_URL")
  psql_url=$(sed -e 's/?search_path=[^&]*&/?/' -e 's/[?&]search_path=[^&]*//' <<< "$DATABASE_URL")
  count() { PGOPTIONS=${schema:+-csearch_path=$schema} psql "$psql_url" -qtAc "$1"; }
else
  command -v sqlite3 >/dev/null || { echo "batch-crash.sh: sqlite3 is not installed" >&2; exit 1; }
  count() { sqlite3 "$work/data/registry.db" "$1"; }
fi

go run ./scripts/batchdata -n "$N" "$DATA/dataset.csv" "$DATA/holdout.csv" > "$work/items.csv"
start_server "${db_flags[@]}"
loc=$(curl -fsS -D - -o /dev/null -w '%{time_total}\n' -H 'Content-Type: text/csv' --data-binary @"$work/items.csv" "$URL/batch-jobs" |
  tee "$work/post" | awk 'tolower($1) == "location:" {print $2}' | tr -d '\r')
[ -n "$loc" ] || { echo "batch-crash.sh: no Location" >&2; exit 1; }
echo "202 for $N items after $(tail -1 "$work/post") s"
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

start_server "${db_flags[@]}"
start=$SECONDS
# Chunks that were running when it died are redone once River rescues them
# (15 to 45 s later).
until [ "$(field status)" = succeeded ]; do
  [ "$(field status)" = failed ] && { echo "batch-crash.sh: job failed" >&2; exit 1; }
  [ $((SECONDS - start)) -lt 120 ] || { echo "batch-crash.sh: job did not finish" >&2; exit 1; }
  sleep 0.05
done
rows=$(count "SELECT COUNT(*) FROM predictions WHERE model = 'tagifai' AND version = 1")
counted=$(count "SELECT SUM(items) FROM batch_job_replicas WHERE job_id = '$job'")
echo "after restart: job $job succeeded after $((SECONDS - start)) s, done $(field done), counted by replicas $counted; stored predictions $rows (want $N, each item id once)"
[ "$rows" = "$N" ] && [ "$(field done)" = "$N" ] && [ "$counted" = "$N" ]
