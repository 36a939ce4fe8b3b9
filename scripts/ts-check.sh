#!/usr/bin/env bash
# The TypeScript SDK check: type-checks sdk/typescript in strict mode and
# compiles it, starts tagifai on a scratch loopback port with a scratch data
# directory and an admin user, and runs sdk/typescript/src/check.ts against it.
# Prints the check's one summary line; exits non-zero on a type error or on
# any mismatch between the server's answers and the spec.
#
#   scripts/ts-check.sh             type-check, start a server, run the check
#   scripts/ts-check.sh --types     type-check only
set -euo pipefail
. "$(dirname "$0")/sdkserver.sh"
node_deps sdk/typescript
rm -rf sdk/typescript/out
(cd sdk/typescript && npx --no-install tsc -p .)
[ "${1:-}" = --types ] && { echo "ts-check: types ok"; exit 0; }
start_sdk_server
if ! node sdk/typescript/out/check.js >"$work/summary" 2>"$work/check.log"; then
  cat "$work/check.log" >&2
  echo "--- server log (last 20 lines)" >&2
  tail -20 "$work/server.log" >&2
  cat "$work/summary"
  exit 1
fi
cat "$work/summary"
