#!/usr/bin/env bash
# The console's browser test: builds tagifai, starts it on a scratch
# loopback port with a scratch data directory and an admin user (see
# sdkserver.sh), and runs console/test/console.test.ts in Debian's Chromium
# (/usr/bin/chromium, `apt-get install chromium`; no browser is downloaded).
# Screenshots land in console/out/. Prints the test's one summary line, with
# the bundle's gzipped size and first-paint times; exits non-zero on any
# failure.
set -euo pipefail
. "$(dirname "$0")/sdkserver.sh"
chromium=${CHROMIUM:-/usr/bin/chromium}
[ -x "$chromium" ] || { echo "$0: no $chromium: apt-get install -y chromium" >&2; exit 1; }
if [ ! console/node_modules/.package-lock.json -nt console/package-lock.json ]; then
  (cd console && npm ci --no-audit --no-fund --loglevel=error)
fi
rm -rf console/test/out
(cd console && npx --no-install tsc -p test)
start_sdk_server
# The second version the test uploads: a small model trained on the test's
# own fixture, so that its predictions and figures differ from version 1's.
echo '{"min_freq": 1, "num_epochs": 20}' >"$work/v2-args.json"
./bin/tagifai train --data console/test/projects.csv --holdout console/test/projects.csv \
  --args "$work/v2-args.json" --out "$work/v2" >"$work/train.log" 2>&1 || { cat "$work/train.log" >&2; exit 1; }
if ! ARTIFACT=$work/v2/model.tagifai BUNDLE=server/console OUT=console/out CHROMIUM=$chromium \
    node console/test/out/console.test.js >"$work/summary" 2>"$work/test.log"; then
  cat "$work/test.log" >&2
  echo "--- server log (last 20 lines)" >&2
  tail -20 "$work/server.log" >&2
  cat "$work/summary"
  exit 1
fi
cat "$work/summary"
