#!/usr/bin/env bash
# Regenerates the TypeScript SDK's types, sdk/typescript/src/api.d.ts, from
# openapi.yaml with the openapi-typescript pinned in sdk/typescript/package-lock.json.
# `make generate` runs it, so CI's check for stale generated files covers it.
#
#   scripts/ts-generate.sh [SPEC [OUT]]   (defaults: openapi.yaml, sdk/typescript/src/api.d.ts)
#
# SPEC and OUT let a scratch copy of the spec be tried without touching the
# committed types; relative paths are taken from the repository root.
set -euo pipefail
cd "$(dirname "$0")/.."
spec=$(realpath "${1:-openapi.yaml}")
out=$(realpath -m "${2:-sdk/typescript/src/api.d.ts}")
if [ ! sdk/typescript/node_modules/.package-lock.json -nt sdk/typescript/package-lock.json ]; then
  (cd sdk/typescript && npm ci --no-audit --no-fund --loglevel=error)
fi
cd sdk/typescript
npx --no-install openapi-typescript "$spec" --output "$out"
