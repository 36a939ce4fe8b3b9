#!/usr/bin/env bash
# Runs README.md's walk-through as written: every block fenced as
# ```sh walkthrough, in order, in one bash that stops at the first failing
# command, against a real server on a free port with a fresh registry (a
# throwaway XDG_DATA_HOME, so the user's own registry is not touched).
# Needs curl, jq, and Made With ML's CSV files in $DATA (default ../shared/data).
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

blocks=$(grep -c '^```sh walkthrough$' README.md || true)
[ "$blocks" -gt 0 ] || { echo "readme-walkthrough.sh: no \`\`\`sh walkthrough blocks in README.md" >&2; exit 1; }
{
  echo 'set -euo pipefail'
  echo 'trap '\''kill $(jobs -p) 2>/dev/null || true'\'' EXIT'   # never leave the server running
  awk '/^```sh walkthrough$/ { on = 1; next } /^```$/ { on = 0 } on' README.md
} > "$work/walkthrough.sh"

# A free port: random high ports until nothing answers on one.
for _ in $(seq 1 20); do
  port=$((20000 + RANDOM % 20000))
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || break
done
export XDG_DATA_HOME="$work/home" TAGIFAI_ADDR="127.0.0.1:$port" TAGIFAI_URL="http://127.0.0.1:$port"
export DATA="${DATA:-../shared/data}"
unset TAGIFAI_DATA_DIR TAGIFAI_DATABASE_URL TAGIFAI_API_KEY

echo "== README walk-through: $blocks blocks, server on $TAGIFAI_URL"
if ! timeout 900 bash -x "$work/walkthrough.sh"; then
  echo "readme-walkthrough.sh: the walk-through failed; the server's log:" >&2
  tail -30 tmp/serve.log >&2 || true
  exit 1
fi
echo "== README walk-through passed"
