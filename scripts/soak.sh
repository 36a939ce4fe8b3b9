#!/usr/bin/env bash
# Soak: POST /predict (one 120-character text) at a fixed rate for DURATION,
# open loop, on loopback. Reports errors, latency percentiles and the
# server's resident memory before and after, and fails when a bar is missed:
# 0 errors, p99 <= 5 ms, RSS growth <= 5 MB.
#
# The load comes from vegeta (github.com/tsenart/vegeta, pinned below, built
# into a scratch directory; it is not a dependency of the module). vegeta is
# open loop: it sends on schedule whether or not earlier requests have been
# answered, spawning workers as needed, and times each request from when its
# worker starts it, waiting for a connection included, so a stalled server
# shows in the latencies instead of slowing the load (no coordinated
# omission). Connections are kept alive and bounded by CONNS.
#
# Memory is sampled after a WARMUP at the same rate (pools, caches and the
# heap reach their working size) and at the end; the growth between the two
# is what a leak would show as.
#
#   scripts/soak.sh                          # 5,000 req/s for 60 s
#   RATE=1000 DURATION=10s scripts/soak.sh
#   SERVER_FLAGS="--log-level warn" scripts/soak.sh   # extra flags for tagifai serve
set -euo pipefail
cd "$(dirname "$0")/.."

RATE=${RATE:-5000}
DURATION=${DURATION:-60s}
WARMUP=${WARMUP:-5s}
CONNS=${CONNS:-64}
PORT=${PORT:-18010}
VEGETA=github.com/tsenart/vegeta/v12@v12.13.0
command -v jq >/dev/null || { echo "soak.sh: jq is not installed (apt-get install jq)" >&2; exit 1; }
. scripts/serverlib.sh

GOBIN="$work/bin" go install "$VEGETA"
write_body "$work/one.json" 1
printf 'POST %s/predict\nContent-Type: application/json\n@%s\n' "$URL" "$work/one.json" > "$work/targets"

attack() { # attack DURATION OUT
  "$work/bin/vegeta" attack -targets="$work/targets" -rate="$RATE/1s" -duration="$1" \
    -connections="$CONNS" -max-connections="$CONNS" -keepalive=true -timeout=5s > "$2"
}

start_server ${SERVER_FLAGS:-}
rss_idle=$(rss_kb)
attack "$WARMUP" "$work/warmup.bin"
rss_start=$(rss_kb)
cpu_start=$(cpu_s)
attack "$DURATION" "$work/soak.bin"
cpu_end=$(cpu_s)
rss_end=$(rss_kb)
"$work/bin/vegeta" report -type=json "$work/soak.bin" > "$work/report.json"

# The server's CPU over the run, in cores (1.0 = one core busy throughout).
secs=$("$work/bin/vegeta" report -type=json "$work/soak.bin" | jq '.duration / 1e9')
cores=$(awk -v a="$cpu_start" -v b="$cpu_end" -v d="$secs" 'BEGIN { printf "%.2f", (b - a) / d }')
read -r requests ok rate p50 p99 pmax < <(jq -r '[.requests, (.status_codes["200"] // 0), .rate,
  (.latencies["50th"] / 1e6), (.latencies["99th"] / 1e6), (.latencies.max / 1e6)] | @tsv' "$work/report.json")
errors=$((requests - ok))
growth_kb=$((rss_end - rss_start))
if [ "$errors" -gt 0 ]; then jq -c '{status_codes, errors: (.errors[:5])}' "$work/report.json" >&2; fi

verdict=PASS
[ "$errors" -eq 0 ] || verdict=FAIL
awk -v p="$p99" 'BEGIN { exit !(p <= 5) }' || verdict=FAIL
[ "$growth_kb" -le 5120 ] || verdict=FAIL
awk -v v="$verdict" -v n="$requests" -v rate="$rate" -v d="$DURATION" -v w="$WARMUP" -v e="$errors" \
  -v p50="$p50" -v p99="$p99" -v pmax="$pmax" -v idle="$rss_idle" -v s="$rss_start" -v end="$rss_end" -v cores="$cores" -v ncpu="$(nproc)" 'BEGIN {
  printf "soak %s: %d requests at %.0f req/s for %s (after %s warm-up), %d errors, p50 %.3f ms, p99 %.3f ms, max %.1f ms, rss %.1f MiB idle, %.1f MiB -> %.1f MiB (%+.1f MiB), server cpu %.2f of %d cores\n",
    v, n, rate, d, w, e, p50, p99, pmax, idle/1024, s/1024, end/1024, (end-s)/1024, cores, ncpu }'
[ "$verdict" = PASS ]
