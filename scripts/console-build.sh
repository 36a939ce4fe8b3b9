#!/usr/bin/env bash
# Builds the web console (console/) into server/console/, where the server
# embeds it for GET /console: regenerates console/src/api.d.ts from
# openapi.yaml, type-checks the app in strict mode, and bundles it with
# esbuild into one minified JavaScript file and one CSS file (third-party
# licences in console.js.LEGAL.txt). Everything comes from the npm packages
# pinned in console/package-lock.json. Run by `make generate`; CI fails if
# the committed output is stale.
set -euo pipefail
cd "$(dirname "$0")/../console"
if [ ! node_modules/.package-lock.json -nt package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
npx --no-install openapi-typescript ../openapi.yaml --output src/api.d.ts --silent
npx --no-install tsc -p .
out=../server/console
mkdir -p "$out"
rm -f "$out"/console.js "$out"/console.css "$out"/console.js.LEGAL.txt
npx --no-install esbuild src/main.tsx --bundle --minify --format=esm --target=es2020 \
  --jsx=automatic --jsx-import-source=preact --legal-comments=external \
  --outfile="$out/console.js" --log-level=warning
install -m 0644 index.html "$out/index.html"
