#!/usr/bin/env bash
# How fast a deployment made through one replica reaches another: two
# servers share a throwaway PostgreSQL (scripts/postgres.sh) and nothing
# else, both polling the serving version only every hour, so that replica B
# can follow in time only through the database's announcements
# (LISTEN/NOTIFY). The serving version flips FLIPS times through replica A;
# each line is the time from A's answer until B's POST /predict answers
# with the new version (B loads it first: most of the time is that). Half
# way, every listening connection is cut (pg_terminate_backend), to show
# that B listens again. Needs Debian's postgresql package and curl.
#
#   scripts/follow-bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
FLIPS=${FLIPS:-10}
PORT_A=${PORT_A:-18601}
PORT_B=${PORT_B:-18602}
command -v curl >/dev/null || { echo "follow-bench.sh: curl is not installed" >&2; exit 1; }

make -s build
work=$(mktemp -d)
pids=()
pg_dir=
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "$pg_dir" ] && scripts/postgres.sh stop "$pg_dir" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
eval "$(scripts/postgres.sh start 2>/dev/null)"
pg_dir=$TAGIFAI_POSTGRES_DIR
db=$TAGIFAI_TEST_POSTGRES_URL
pg_bin=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)}

# serve NAME PORT: start a replica and wait until it is ready.
serve() {
  ./bin/tagifai serve --artifacts artifacts --data-dir "$work/$1" --database-url "$db" --addr "127.0.0.1:$2" \
    --replica-id "$1" --serving-poll-interval 1h 2>"$work/$1.log" &
  pids+=($!)
  for _ in $(seq 1 500); do
    curl -fso /dev/null "http://127.0.0.1:$2/health/ready" && return 0
    sleep 0.01
  done
  echo "follow-bench.sh: replica $1 did not become ready" >&2
  tail -5 "$work/$1.log" >&2
  exit 1
}
serve a "$PORT_A"
serve b "$PORT_B"

key=$(./bin/tagifai users create --database-url "$db" --data-dir "$work/a" --name ops --role admin 2>/dev/null)
auth="Authorization: Bearer $key"
code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H "$auth" -H 'Content-Type: application/octet-stream' \
  --data-binary @artifacts/model.tagifai "http://127.0.0.1:$PORT_A/models/tagifai/versions/2")
[ "$code" = 201 ] || { echo "follow-bench.sh: upload answered $code" >&2; exit 1; }

served_by_b() {
  curl -fsS -X POST -H 'Content-Type: application/json' -d '{"texts":[{"text":"a CNN"}]}' \
    "http://127.0.0.1:$PORT_B/predict" | sed -n 's/.*"version":\([0-9]*\).*/\1/p'
}

version=2
for flip in $(seq 1 "$FLIPS"); do
  if [ "$flip" = $((FLIPS / 2 + 1)) ]; then
    cut=$("$pg_bin/psql" "$db" -Atc \
      "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE query LIKE 'LISTEN %' AND pid <> pg_backend_pid()")
    echo "cut $cut listening connections"
    sleep 1
  fi
  code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H "$auth" -H 'Content-Type: application/json' \
    -d "{\"version\":$version}" "http://127.0.0.1:$PORT_A/models/tagifai/serving-version")
  [ "$code" = 200 ] || { echo "follow-bench.sh: deploy answered $code" >&2; exit 1; }
  start=$(date +%s%N)
  until [ "$(served_by_b)" = "$version" ]; do
    [ $((($(date +%s%N) - start) / 1000000)) -lt 10000 ] || { echo "follow-bench.sh: b did not follow version $version in 10 s" >&2; exit 1; }
  done
  echo "flip $flip: b serves version $version $((($(date +%s%N) - start) / 1000000)) ms after a answered"
  version=$((3 - version))
done
