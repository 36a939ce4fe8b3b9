#!/usr/bin/env bash
# Slow clients (slowloris): SLOW connections trickle a request one byte a
# second, half of them in the headers and half in the body, while a normal
# client POSTs /predict every 50 ms. Passes when the normal client gets only
# 200s and the server cuts every slow connection by its own timeouts:
# ReadHeaderTimeout (5 s) for slow headers, ReadTimeout (30 s) for slow
# bodies. Runs for DURATION (38 s), so the whole script takes under 45 s.
#
#   scripts/slowclient.sh
#   SLOW=4000 scripts/slowclient.sh
set -euo pipefail
cd "$(dirname "$0")/.."

SLOW=${SLOW:-1000}
DURATION=${DURATION:-38s}
PORT=${PORT:-18030}
. scripts/serverlib.sh

go build -o "$work/slowclient" ./scripts/slowclient
start_server
rss_before=$(rss_kb)
set +e
out=$("$work/slowclient" -addr "$ADDR" -slow "$SLOW" -duration "$DURATION")
rc=$?
set -e
rss_after=$(rss_kb)
alive=alive; curl -fso /dev/null "$URL/health/live" || { alive=DEAD; rc=1; }
echo "$out; server $alive, rss $((rss_before / 1024)) MiB -> $((rss_after / 1024)) MiB"
exit "$rc"
