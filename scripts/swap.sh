#!/usr/bin/env bash
# Hot-swap under load: flips the serving version between 1 and 2 every
# 100 ms for DURATION while wrk sends POST /predict over 32 connections on
# loopback, then reports the non-2xx responses of both (the bar is 0).
# Needs wrk (apt-get install wrk).
#
#   scripts/swap.sh            # 20 s
#   DURATION=5 scripts/swap.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-20}
PORT=${PORT:-18300}
command -v wrk >/dev/null || { echo "swap.sh: wrk is not installed (apt-get install wrk)" >&2; exit 1; }
# shellcheck source=scripts/serverlib.sh
source scripts/serverlib.sh

start_server
key=$(TAGIFAI_DATA_DIR="$work/data" ./bin/tagifai users create --name swapper --role admin 2>/dev/null)
auth="Authorization: Bearer $key"
# Version 2: the same model re-uploaded, enough to exercise the swap.
code=$(curl -s -o "$work/upload.json" -w '%{http_code}' -X PUT -H "$auth" -H 'Content-Type: application/octet-stream' \
  --data-binary @artifacts/model.tagifai "$URL/models/tagifai/versions/2")
[ "$code" = 201 ] || { echo "swap.sh: upload answered $code: $(cat "$work/upload.json")" >&2; exit 1; }

write_body "$work/one.json" 1
cat > "$work/one.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = assert(io.open("$work/one.json", "rb"))
wrk.body = f:read("*a")
f:close()
LUA

wrk -t1 -c32 -d"${DURATION}s" --latency -s "$work/one.lua" "$URL/predict" > "$work/wrk.out" &
wrk_pid=$!
flips=0 flip_failures=0 version=2
end=$((SECONDS + DURATION))
while [ "$SECONDS" -lt "$end" ]; do
  code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H "$auth" -H 'Content-Type: application/json' \
    -d "{\"version\":$version}" "$URL/models/tagifai/serving-version")
  flips=$((flips + 1))
  [ "$code" = 200 ] || flip_failures=$((flip_failures + 1))
  version=$((3 - version))
  sleep 0.1
done
wait "$wrk_pid"

requests=$(awk '/requests in/ {print $1}' "$work/wrk.out")
non2xx=$(awk '/Non-2xx/ {print $5}' "$work/wrk.out"); non2xx=${non2xx:-0}
socket=$(awk '/Socket errors/ {print}' "$work/wrk.out")
p99=$(awk '$1 == "99%" {print $2}' "$work/wrk.out")
echo "swap under load: ${DURATION}s, $flips serving-version flips ($flip_failures failed), $requests predictions, non-2xx $non2xx, p99 $p99 ${socket:+($socket)}"
[ "$non2xx" = 0 ] && [ "$flip_failures" = 0 ] && [ -z "$socket" ]
