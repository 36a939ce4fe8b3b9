#!/usr/bin/env bash
# The docs browser test: builds tagifai, starts it on a scratch loopback port
# with a scratch data directory, and runs tests/browser/src/docs.test.ts in
# Debian's Chromium (/usr/bin/chromium, `apt-get install chromium`; no
# browser is downloaded). Screenshots land in tests/browser/out/.
# Prints the test's one summary line; exits non-zero on any failure.
set -euo pipefail
. "$(dirname "$0")/sdkserver.sh"
chromium=${CHROMIUM:-/usr/bin/chromium}
[ -x "$chromium" ] || { echo "$0: no $chromium: apt-get install -y chromium" >&2; exit 1; }
node_deps tests/browser
rm -rf tests/browser/out/js
(cd tests/browser && npx --no-install tsc -p .)
start_sdk_server
if ! SPEC=openapi.yaml OUT=tests/browser/out CHROMIUM=$chromium node tests/browser/out/js/docs.test.js \
    >"$work/summary" 2>"$work/test.log"; then
  cat "$work/test.log" >&2
  echo "--- server log (last 20 lines)" >&2
  tail -20 "$work/server.log" >&2
  cat "$work/summary"
  exit 1
fi
cat "$work/summary"
