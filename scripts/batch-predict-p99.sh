#!/usr/bin/env bash
# Does batch work starve POST /predict? wrk -t1 -c8 of one-text predictions
# for DURATION with no batch job, then again while a 100,000-item job runs
# (--batch-workers 1, the default), and the job's progress meanwhile. The
# server may use every core; wrk runs on CPU 1 when taskset is there. Needs
# wrk.
#
#   scripts/batch-predict-p99.sh
#   DATABASE_URL=postgres://... scripts/batch-predict-p99.sh
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-100000}
PORT=${PORT:-18600}
DATA=${DATA:-../shared/data}
DURATION=${DURATION:-10s}
command -v wrk >/dev/null || { echo "batch-predict-p99.sh: wrk is not installed (apt-get install wrk)" >&2; exit 1; }
# shellcheck source=scripts/serverlib.sh
source scripts/serverlib.sh

db_flags=()
[[ -n ${DATABASE_URL:-} ]] && db_flags=(--database-url "$DATABASE_URL")
write_body "$work/one.json" 1
cat > "$work/one.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = assert(io.open("$work/one.json", "rb"))
wrk.body = f:read("*a")
f:close()
LUA
go run ./scripts/batchdata -n "$N" "$DATA/dataset.csv" "$DATA/holdout.csv" > "$work/items.csv"
start_server "${db_flags[@]}" --batch-workers 1

wrk_prefix=""
command -v taskset >/dev/null && [[ $(nproc) -ge 2 ]] && wrk_prefix="taskset -c 1"
run() {
  $wrk_prefix wrk -t1 -c8 -d"$DURATION" --latency -s "$work/one.lua" "$URL/predict" |
    awk -v label="$1" '/^Requests\/sec/ { rps = $2 } $1 == "50%" { p50 = $2 } $1 == "99%" { p99 = $2 }
      END { printf "%-32s %9s req/s  p50 %-8s p99 %s\n", label, rps, p50, p99 }'
}
field() { curl -fsS "$URL$loc" | sed -n "s/.*\"$1\":\"\{0,1\}\([^,\"}]*\).*/\1/p"; }

echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
run "POST /predict, no batch job"
loc=$(curl -fsS -D - -o /dev/null -H 'Content-Type: text/csv' --data-binary @"$work/items.csv" "$URL/batch-jobs" |
  awk 'tolower($1) == "location:" {print $2}' | tr -d '\r')
sleep 1
before=$(field done)
run "POST /predict, batch job running"
after=$(field done)
echo "the batch job meanwhile: $before -> $after of $N items ($(field status))"
