#!/usr/bin/env bash
# Loopback load test of the API with wrk: the scenarios of README's
# Performance section. Starts the server with the committed model (see
# serverlib.sh), runs each scenario for DURATION, prints one summary line per
# scenario, and stops the server. Needs wrk (apt-get install wrk).
#
#   scripts/load.sh            # all scenarios, 10 s each
#   DURATION=3s scripts/load.sh
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
CONNS=${CONNS:-32}
PORT=${PORT:-18000}
command -v wrk >/dev/null || { echo "load.sh: wrk is not installed (apt-get install wrk)" >&2; exit 1; }
# shellcheck source=scripts/serverlib.sh
source scripts/serverlib.sh

write_body "$work/one.json" 1
write_body "$work/batch.json" 100
# write_oip_body FILE N: the same texts as an Open Inference Protocol JSON request.
write_oip_body() {
  local file=$1 n=$2 i
  { printf '{"inputs":[{"name":"text","datatype":"BYTES","shape":[%d],"data":[' "$n"
    for i in $(seq 1 "$n"); do [ "$i" -gt 1 ] && printf ','; printf '"%s"' "$TEXT"; done
    printf ']}]}'; } > "$file"
}
write_oip_body "$work/oip-one.json" 1
write_oip_body "$work/oip-batch.json" 100
for f in one batch oip-one oip-batch; do
  cat > "$work/$f.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = assert(io.open("$work/$f.json", "rb"))
wrk.body = f:read("*a")
f:close()
LUA
done

stop_server() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=; }

# run NAME PATH [LUA]: one wrk scenario, summarised on one line.
run() {
  local name=$1 path=$2 script=${3:-}
  local args=(-t1 -c"$CONNS" -d"$DURATION" --latency)
  [ -n "$script" ] && args+=(-s "$script")
  local cpu0 cpu1
  cpu0=$(cpu_s)
  wrk "${args[@]}" "$URL$path" > "$work/wrk.out"
  cpu1=$(cpu_s)
  local rps p50 p99 errors sockerr requests cpu
  rps=$(awk '/^Requests\/sec/ {print $2}' "$work/wrk.out")
  p50=$(awk '$1 == "50%" {print $2}' "$work/wrk.out")
  p99=$(awk '$1 == "99%" {print $2}' "$work/wrk.out")
  errors=$(awk '/Non-2xx/ {print $5}' "$work/wrk.out"); errors=${errors:-0}
  sockerr=$(awk '/Socket errors/ {print $0}' "$work/wrk.out")
  # The server's user + system CPU per request: what a request costs it,
  # whatever share of the two cores wrk takes.
  requests=$(awk '/ requests in / {print $1}' "$work/wrk.out")
  cpu=$(awk -v a="$cpu0" -v b="$cpu1" -v n="${requests:-0}" 'BEGIN { if (n > 0) printf "%.1f", (b - a) / n * 1e6; else print "-" }')
  printf '%-34s %10s req/s   p50 %8s   p99 %8s   server CPU %6s us/req   non-2xx %s %s\n' "$name" "$rps" "$p50" "$p99" "$cpu" "$errors" "$sockerr"
}

echo "wrk -t1 -c$CONNS -d$DURATION --latency on $(nproc) cores, $(date -u +%Y-%m-%d)"
start_server
run "GET /" /
run "POST /predict, 1 text" /predict "$work/one.lua"
run "POST /predict, 100 texts" /predict "$work/batch.lua"
run "POST /v2/.../infer, 1 text" /v2/models/tagifai/infer "$work/oip-one.lua"
run "POST /v2/.../infer, 100 texts" /v2/models/tagifai/infer "$work/oip-batch.lua"
echo "resident memory after the runs: $(($(rss_kb) / 1024)) MB"
stop_server

start_server --no-validation
run "POST /predict, 1 text, no validator" /predict "$work/one.lua"
run "POST /predict, 100 texts, no validator" /predict "$work/batch.lua"
stop_server

go run ./scripts/startuptime -url "$URL/" -runs 5 -- ./bin/tagifai serve --artifacts artifacts --data-dir "$work/startup" --addr "$ADDR" | tail -1
