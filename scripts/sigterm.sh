#!/usr/bin/env bash
# SIGTERM under load: CONNS connections keep POST /predict busy (closed loop,
# keep-alive), the server gets SIGTERM after SIGNAL_AFTER, and every request
# is accounted for by scripts/drainload (see its doc comment for the exact
# definitions):
#
#   failed   sent, and answered with a non-2xx or not answered completely;
#   refused  not sent: the connection could not be opened because the
#            server had closed its listener (each connection stops there).
#
# Passes when no request failed, some requests were in flight at the signal
# (and finished), the listener closed, and the server exited 0 within its
# --shutdown-timeout.
#
#   scripts/sigterm.sh
#   TEXTS=1 CONNS=64 scripts/sigterm.sh
set -euo pipefail
cd "$(dirname "$0")/.."

CONNS=${CONNS:-32}
TEXTS=${TEXTS:-100}           # texts per request: 100 keeps each request busy for a while
SIGNAL_AFTER=${SIGNAL_AFTER:-5s}
SHUTDOWN_TIMEOUT=${SHUTDOWN_TIMEOUT:-15s}
PORT=${PORT:-18020}
. scripts/serverlib.sh

go build -o "$work/drainload" ./scripts/drainload
write_body "$work/body.json" "$TEXTS"
start_server --shutdown-timeout "$SHUTDOWN_TIMEOUT"

set +e
load=$("$work/drainload" -url "$URL/predict" -body "$work/body.json" -conns "$CONNS" \
  -duration 30s -pid "$pid" -signal-after "$SIGNAL_AFTER")
load_rc=$?
start=$(date +%s.%N)
wait "$pid"
server_rc=$?
set -e
pid=
waited=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')

verdict=PASS
[ "$load_rc" -eq 0 ] && [ "$server_rc" -eq 0 ] || verdict=FAIL
grep -q '"msg":"stopped"' "$work/server.log" || verdict=FAIL
[ "$verdict" = PASS ] || tail -5 "$work/server.log" >&2
echo "sigterm $verdict: server exit $server_rc ${waited}s after the load ended, $TEXTS texts per request; $load"
[ "$verdict" = PASS ]
