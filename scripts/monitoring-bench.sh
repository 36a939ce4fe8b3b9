#!/usr/bin/env bash
# POST /predict throughput (one 120-character text, wrk as in load.sh) with
# monitoring on and off, side by side: ROUNDS rounds, each starting the
# server with --monitoring=true then --monitoring=false, so that other load
# on the machine weighs on both alike. Prints each run, then the median
# req/s of each mode, the ratio, and the server's CPU time per request;
# also the predictions monitoring dropped (tagifai_monitoring_dropped_total).
#
#   scripts/monitoring-bench.sh
#   ROUNDS=5 DURATION=10s scripts/monitoring-bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
CONNS=${CONNS:-32}
ROUNDS=${ROUNDS:-3}
PORT=${PORT:-18010}
command -v wrk >/dev/null || { echo "monitoring-bench.sh: wrk is not installed (apt-get install wrk)" >&2; exit 1; }
# shellcheck source=scripts/serverlib.sh
source scripts/serverlib.sh

write_body "$work/one.json" 1
cat > "$work/one.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = assert(io.open("$work/one.json", "rb"))
wrk.body = f:read("*a")
f:close()
LUA

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "wrk -t1 -c$CONNS -d$DURATION on $(nproc) cores, $ROUNDS rounds, $(date -u +%Y-%m-%dT%H:%MZ), load average $(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq 1 "$ROUNDS"); do
  for mode in true false; do
    start_server --monitoring="$mode"
    cpu0=$(cpu_s)
    wrk -t1 -c"$CONNS" -d"$DURATION" --latency -s "$work/one.lua" "$URL/predict" > "$work/wrk.out"
    cpu1=$(cpu_s)
    rps=$(awk '/^Requests\/sec/ {print $2}' "$work/wrk.out")
    reqs=$(awk '/requests in/ {print $1}' "$work/wrk.out")
    p99=$(awk '$1 == "99%" {print $2}' "$work/wrk.out")
    errors=$(awk '/Non-2xx/ {print $5}' "$work/wrk.out"); errors=${errors:-0}
    dropped=$(curl -fs "$URL/metrics" | awk '/^tagifai_monitoring_dropped_total/ {print $2}')
    cpu_us=$(awk -v a="$cpu0" -v b="$cpu1" -v n="$reqs" 'BEGIN { printf "%.1f", (b - a) * 1e6 / n }')
    printf 'round %d  monitoring=%-5s %10s req/s   p99 %8s   server CPU %6s us/request   non-2xx %s   dropped %s\n' \
      "$round" "$mode" "$rps" "$p99" "$cpu_us" "$errors" "${dropped:-n/a}"
    echo "$rps" >> "$work/rps-$mode"
    echo "$cpu_us" >> "$work/cpu-$mode"
    stop_server
  done
done
on=$(median < "$work/rps-true"); off=$(median < "$work/rps-false")
con=$(median < "$work/cpu-true"); coff=$(median < "$work/cpu-false")
awk -v on="$on" -v off="$off" -v con="$con" -v coff="$coff" 'BEGIN {
  printf "median: monitoring on %.0f req/s, off %.0f req/s: on/off = %.3f; server CPU per request on %.1f us, off %.1f us (+%.1f%%)\n",
    on, off, on / off, con, coff, (con / coff - 1) * 100 }'
