#!/usr/bin/env bash
# Rollouts under load, on loopback with wrk -c32 on POST /predict (callers
# spread over 1,000 X-Routing-Key values):
#  1. for DURATION seconds, start, change and end shadow and canary
#     rollouts over and over, and report the non-2xx responses of wrk and
#     of the rollout changes (the bar is 0);
#  2. throughput side by side: ROUNDS pairs of RUN-second runs without a
#     rollout and with a shadow of all traffic, alternating, and the shadow
#     queue's figures (sampled, compared, dropped).
# Version 2 is the committed model uploaded again: the point is the cost of
# routing and shadowing, not the agreement. Needs wrk (apt-get install wrk).
#
#   scripts/rollout.sh
#   DURATION=10 RUN=5 ROUNDS=2 scripts/rollout.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-20}
RUN=${RUN:-10}
ROUNDS=${ROUNDS:-2}
PORT=${PORT:-18400}
command -v wrk >/dev/null || { echo "rollout.sh: wrk is not installed (apt-get install wrk)" >&2; exit 1; }
command -v jq >/dev/null || { echo "rollout.sh: jq is not installed (apt-get install jq)" >&2; exit 1; }
# shellcheck source=scripts/serverlib.sh
source scripts/serverlib.sh

start_server
key=$(TAGIFAI_DATA_DIR="$work/data" ./bin/tagifai users create --name rollout-admin --role admin 2>/dev/null)
auth="Authorization: Bearer $key"
code=$(curl -s -o "$work/upload.json" -w '%{http_code}' -X PUT -H "$auth" -H 'Content-Type: application/octet-stream' \
  --data-binary @artifacts/model.tagifai "$URL/models/tagifai/versions/2")
[ "$code" = 201 ] || { echo "rollout.sh: upload answered $code: $(cat "$work/upload.json")" >&2; exit 1; }

write_body "$work/one.json" 1
cat > "$work/one.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = assert(io.open("$work/one.json", "rb"))
wrk.body = f:read("*a")
f:close()
local n = 0
request = function()
  n = n + 1
  wrk.headers["X-Routing-Key"] = "caller-" .. (n % 1000)
  return wrk.format()
end
LUA

# rollout METHOD [BODY]: change the rollout; prints the status code.
rollout() {
  if [ $# -gt 1 ]; then
    curl -s -o "$work/rollout.json" -w '%{http_code}' -X "$1" -H "$auth" -H 'Content-Type: application/json' -d "$2" "$URL/models/tagifai/rollout"
  else
    curl -s -o "$work/rollout.json" -w '%{http_code}' -X "$1" -H "$auth" "$URL/models/tagifai/rollout"
  fi
}

# summary FILE [CPU_SECONDS]: requests/s, non-2xx and socket errors of a
# wrk output, and the server's CPU time per request when given the CPU
# seconds it used during the run (a figure that other work on a shared
# machine disturbs less than requests/s).
summary() {
  local rps non2xx socket requests cpu=""
  rps=$(awk '/^Requests\/sec/ {print $2}' "$1")
  non2xx=$(awk '/Non-2xx/ {print $5}' "$1"); non2xx=${non2xx:-0}
  socket=$(awk '/Socket errors/ {print}' "$1")
  requests=$(awk '/requests in/ {print $1}' "$1")
  [ -n "${2:-}" ] && cpu=", server CPU $(awk -v c="$2" -v n="$requests" 'BEGIN { printf "%.1f", c * 1e6 / n }') us/request"
  echo "$rps req/s, non-2xx $non2xx${socket:+, $socket}$cpu"
}

# measure NAME: one RUN-second wrk run into $work/NAME.out; sets $cpu to
# the server's CPU seconds during it.
measure() {
  local before
  before=$(cpu_s)
  wrk -t1 -c32 -d"${RUN}s" -s "$work/one.lua" "$URL/predict" > "$work/$1.out"
  cpu=$(awk -v a="$before" -v b="$(cpu_s)" 'BEGIN { print b - a }')
}

echo "wrk -t1 -c32 on POST /predict, 1 text, $(nproc) cores (shared), $(date -u +%Y-%m-%dT%H:%MZ)"

# 1. Changes under load.
wrk -t1 -c32 -d"${DURATION}s" -s "$work/one.lua" "$URL/predict" > "$work/changes.out" &
wrk_pid=$!
changes=0 failures=0
steps=(
  'PUT {"candidate":2,"mode":"shadow","percent":100}'
  'PUT {"candidate":2,"mode":"shadow","percent":30}'
  'DELETE'
  'PUT {"candidate":2,"mode":"canary","percent":20}'
  'PUT {"candidate":2,"mode":"canary","percent":60}'
  'DELETE'
)
end=$((SECONDS + DURATION))
while [ "$SECONDS" -lt "$end" ]; do
  for step in "${steps[@]}"; do
    read -r method body <<<"$step"
    if [ -n "${body:-}" ]; then code=$(rollout "$method" "$body"); else code=$(rollout "$method"); fi
    changes=$((changes + 1))
    [ "$code" = 200 ] || { failures=$((failures + 1)); echo "  $step answered $code: $(cat "$work/rollout.json")" >&2; }
    sleep 0.2
  done
done
wait "$wrk_pid"
changes_summary=$(summary "$work/changes.out")
echo "1. ${DURATION}s of rollout changes under load: $changes changes ($failures failed); wrk: $changes_summary"

# 2. Throughput without a rollout and with a shadow of all traffic.
rollout DELETE >/dev/null || true
for round in $(seq 1 "$ROUNDS"); do
  measure none
  echo "2. round $round, no rollout:            $(summary "$work/none.out" "$cpu")"
  code=$(rollout PUT '{"candidate":2,"mode":"shadow","percent":100}')
  [ "$code" = 200 ] || { echo "rollout.sh: starting the shadow answered $code" >&2; exit 1; }
  measure shadow
  curl -s -H "$auth" "$URL/models/tagifai/rollout" > "$work/state.json"
  code=$(rollout DELETE)
  [ "$code" = 200 ] || { echo "rollout.sh: aborting the shadow answered $code" >&2; exit 1; }
  echo "2. round $round, shadow of all traffic: $(summary "$work/shadow.out" "$cpu"); $(jq -r '.data.stats.shadow | "sampled \(.sampled), compared \(.compared), dropped \(.dropped), agreement \(.agreement_rate)"' "$work/state.json")"
done
grep -q 'non-2xx 0' <<<"$changes_summary" && [ "$failures" = 0 ]
