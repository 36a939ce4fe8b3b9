#!/usr/bin/env bash
# Batch serving figures: `tagifai batch` over the projects of dataset.csv and
# holdout.csv repeated to N rows (rows/s into SQLite, then a re-run that
# skips what is stored), and GET /predictions/{item-id} of random stored
# items under wrk -t1 -c32 on loopback:
#
#   - with the stored-prediction cache (after a warm-up that covers the
#     cache filling itself) and without it (--stored-prediction-cache 0);
#   - with the server and wrk sharing the machine's cores, and, when there
#     are at least two, with the server on CPU 0 and wrk on CPU 1 (taskset),
#     so that the load generator does not take the server's CPU;
#   - GET / under the same conditions, as the floor: a route that does no
#     work at all.
#
# With DATABASE_URL set (a postgres:// URL, e.g. from scripts/postgres.sh),
# everything runs against that PostgreSQL database instead of SQLite; the
# database should be empty.
#
# Needs wrk and taskset.
#
#   scripts/batch-bench.sh
#   DATABASE_URL=postgres://... scripts/batch-bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-100000}
PORT=${PORT:-18500}
DATA=${DATA:-../shared/data}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-5s}
command -v wrk >/dev/null || { echo "batch-bench.sh: wrk is not installed (apt-get install wrk)" >&2; exit 1; }
command -v taskset >/dev/null || { echo "batch-bench.sh: taskset is not installed (apt-get install util-linux)" >&2; exit 1; }
# shellcheck source=scripts/serverlib.sh
source scripts/serverlib.sh

db=SQLite db_flags=()
if [[ -n ${DATABASE_URL:-} ]]; then
  db=PostgreSQL db_flags=(--database-url "$DATABASE_URL")
fi

go run ./scripts/batchdata -n "$N" "$DATA/dataset.csv" "$DATA/holdout.csv" > "$work/items.csv"
echo "tagifai batch, $N rows into $db:"
./bin/tagifai batch --input "$work/items.csv" --data-dir "$work/data" "${db_flags[@]}" 2>/dev/null
echo "again (everything stored already):"
./bin/tagifai batch --input "$work/items.csv" --data-dir "$work/data" "${db_flags[@]}" 2>/dev/null

cat > "$work/lookup.lua" <<LUA
math.randomseed(42)
request = function()
  return wrk.format("GET", string.format("/predictions/p%06d", math.random(0, $N - 1)))
end
LUA

# run_wrk LABEL PREFIX ARGS...: one measured wrk run, one line of figures.
run_wrk() {
  local label=$1 prefix=$2 out
  shift 2
  out=$($prefix wrk -t1 -c32 -d"$DURATION" --latency "$@")
  awk -v label="$label" '
    /^Requests\/sec/ { rps = $2 }
    $1 == "50%" { p50 = $2 }
    $1 == "99%" { p99 = $2 }
    /Non-2xx/ { non2xx = $5 }
    END { printf "%-68s %9s req/s  p50 %-8s p99 %-8s non-2xx %d\n", label, rps, p50, p99, non2xx }' <<< "$out"
}

# scenario CORES SERVER_PREFIX WRK_PREFIX FLAGS...: start a server, warm it
# up, measure lookups and GET /, stop it.
scenario() {
  local cores=$1 sprefix=$2 wprefix=$3 cache=on
  shift 3
  [[ " $* " == *" --stored-prediction-cache 0 "* ]] && cache=off
  SERVE_PREFIX=$sprefix start_server "${db_flags[@]}" "$@"
  $wprefix wrk -t1 -c32 -d"$WARMUP" -s "$work/lookup.lua" "$URL" > /dev/null
  run_wrk "GET /predictions/{item-id}, cache $cache, $cores" "$wprefix" -s "$work/lookup.lua" "$URL"
  [[ $cache == on ]] && run_wrk "GET / (the floor), $cores" "$wprefix" "$URL/"
  stop_server
}

echo "wrk -t1 -c32 -d$DURATION on loopback, $db, after $WARMUP of warm-up:"
scenario "cores shared" "" ""
scenario "cores shared" "" "" --stored-prediction-cache 0
if [[ $(nproc) -ge 2 ]]; then
  scenario "server on CPU 0, wrk on CPU 1" "taskset -c 0" "taskset -c 1"
  scenario "server on CPU 0, wrk on CPU 1" "taskset -c 0" "taskset -c 1" --stored-prediction-cache 0
fi
