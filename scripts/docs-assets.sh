#!/usr/bin/env bash
# Copies the Swagger UI and ReDoc bundles pinned in scripts/package-lock.json
# into server/docs/, where the server embeds them, so /docs and /redoc work
# without a CDN. Run by `make generate`; CI fails if the copies are stale.
set -euo pipefail
cd "$(dirname "$0")"
[ -d node_modules/swagger-ui-dist ] || npm ci --no-audit --no-fund --loglevel=error
out=../server/docs
install -m 0644 node_modules/swagger-ui-dist/swagger-ui-bundle.js "$out/swagger-ui-bundle.js"
install -m 0644 node_modules/swagger-ui-dist/swagger-ui.css "$out/swagger-ui.css"
install -m 0644 node_modules/swagger-ui-dist/LICENSE "$out/LICENSE.swagger-ui"
install -m 0644 node_modules/redoc/bundles/redoc.standalone.js "$out/redoc.standalone.js"
install -m 0644 node_modules/redoc/LICENSE "$out/LICENSE.redoc"
# ReDoc draws its "API docs by Redocly" footer with a logo from its CDN and
# has no option to turn it off; point it at an empty data: URL so the page
# asks nothing of the internet (the logo hides itself when it fails to load).
logo='"https://cdn.redoc.ly/redoc/logo-mini.svg"'
grep -q "$logo" "$out/redoc.standalone.js" || { echo "docs-assets.sh: ReDoc's logo URL changed; update this script" >&2; exit 1; }
sed -i "s#$logo#\"data:,\"#" "$out/redoc.standalone.js"
# The bundles end with a sourceMappingURL to a .map file we do not ship;
# browsers would ask the server for it and log a 404.
sed -i '/^\/\/# sourceMappingURL=/d; /^\/\*# sourceMappingURL=.*\*\/$/d' "$out/swagger-ui-bundle.js" "$out/swagger-ui.css" "$out/redoc.standalone.js"
