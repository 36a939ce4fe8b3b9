#!/usr/bin/env bash
# Batch serving figures: `tagifai batch` over the projects of dataset.csv and
# holdout.csv repeated to N rows (rows/s into SQLite, then a re-run that
# skips what is stored), and GET /predictions/{item-id} of random stored
# items under wrk -c32 on loopback. Needs wrk.
#
#   scripts/batch-bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-100000}
PORT=${PORT:-18500}
DATA=${DATA:-../shared/data}
DURATION=${DURATION:-10s}
command -v wrk >/dev/null || { echo "batch-bench.sh: wrk is not installed (apt-get install wrk)" >&2; exit 1; }
# shellcheck source=scripts/serverlib.sh
source scripts/serverlib.sh

go run ./scripts/batchdata -n "$N" "$DATA/dataset.csv" "$DATA/holdout.csv" > "$work/items.csv"
echo "tagifai batch, $N rows into SQLite:"
./bin/tagifai batch --input "$work/items.csv" --data-dir "$work/data" 2>/dev/null
echo "again (everything stored already):"
./bin/tagifai batch --input "$work/items.csv" --data-dir "$work/data" 2>/dev/null

start_server
cat > "$work/lookup.lua" <<LUA
math.randomseed(42)
request = function()
  return wrk.format("GET", string.format("/predictions/p%06d", math.random(0, $N - 1)))
end
LUA
wrk -t1 -c32 -d"$DURATION" --latency -s "$work/lookup.lua" "$URL" > "$work/wrk.out"
rps=$(awk '/^Requests\/sec/ {print $2}' "$work/wrk.out")
p50=$(awk '$1 == "50%" {print $2}' "$work/wrk.out")
p99=$(awk '$1 == "99%" {print $2}' "$work/wrk.out")
non2xx=$(awk '/Non-2xx/ {print $5}' "$work/wrk.out")
echo "GET /predictions/{item-id}, wrk -t1 -c32 -d$DURATION: $rps req/s, p50 $p50, p99 $p99, non-2xx ${non2xx:-0}"
