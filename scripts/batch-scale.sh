#!/usr/bin/env bash
# One batch job of N rows (1,000,000 by default) on PostgreSQL, worked by one
# replica, then by two replicas pinned to different cores (taskset), and the
# ratio of their times. Each replica is a `tagifai batch` process with one
# worker: the second, given the same input, finds the same job and shares its
# chunks. Also prints where the CPU time went: each replica's, and the
# database's (the CPU time of PostgreSQL's processes during the run). The
# binary and the model are copied first, so the run does not see later
# changes to the tree.
#
#   DATABASE_URL=postgres://... scripts/batch-scale.sh     # e.g. from scripts/postgres.sh
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-1000000}
DATA=${DATA:-../shared/data}
[[ -n ${DATABASE_URL:-} ]] || { echo "batch-scale.sh: set DATABASE_URL to a postgres:// URL" >&2; exit 1; }
command -v taskset >/dev/null || { echo "batch-scale.sh: taskset is not installed (apt-get install util-linux)" >&2; exit 1; }
command -v psql >/dev/null || { echo "batch-scale.sh: psql is not installed (apt-get install postgresql-client)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/tagifai" .
cp -r artifacts "$work/artifacts"
go run ./scripts/batchdata -n "$N" "$DATA/dataset.csv" "$DATA/holdout.csv" > "$work/items.csv"

# postgres_cpu: CPU seconds used so far by the cluster in
# $TAGIFAI_POSTGRES_DIR (scripts/postgres.sh): its postmaster's own and its
# exited children's (cutime, cstime), and its live children's; "?" without it.
postgres_cpu() {
  [[ -n ${TAGIFAI_POSTGRES_DIR:-} ]] || { echo "?"; return; }
  local master ticks
  master=$(head -1 "$TAGIFAI_POSTGRES_DIR/data/postmaster.pid")
  ticks=$(getconf CLK_TCK)
  { awk '{ print $14 + $15 + $16 + $17 }' "/proc/$master/stat"
    for c in $(pgrep -P "$master"); do awk '{ print $14 + $15 }' "/proc/$c/stat" 2>/dev/null || true; done
  } | awk -v t="$ticks" '{ s += $1 } END { printf "%.1f\n", s / t }'
}

# run LABEL CPUS...: a fresh schema, then one replica per CPU in CPUS.
run() {
  local label=$1 schema="scale_$RANDOM$RANDOM" pids=() start end pg0 pg1 i=0
  shift
  psql "$DATABASE_URL" -qc "CREATE SCHEMA $schema"
  local url="$DATABASE_URL"
  [[ $url == *\?* ]] && url+="&search_path=$schema" || url+="?search_path=$schema"
  # The registry and its model first, so that the replicas start together.
  "$work/tagifai" batch --input <(head -2 "$work/items.csv") --data-dir "$work/d0" --artifacts "$work/artifacts" --database-url "$url" >/dev/null
  pg0=$(postgres_cpu)
  start=$(date +%s.%N)
  for cpu in "$@"; do
    i=$((i + 1))
    taskset -c "$cpu" /usr/bin/time -f "  replica $i on CPU $cpu: %e s wall, %U s user, %S s sys" \
      "$work/tagifai" batch --input "$work/items.csv" --data-dir "$work/d$i" --artifacts "$work/artifacts" --database-url "$url" --workers 1 \
      > "$work/out$i" 2> "$work/err$i" &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || { cat "$work"/err*; exit 1; }; done
  end=$(date +%s.%N)
  sleep 1 # for the postmaster to reap the replicas' backends, and count their time
  pg1=$(postgres_cpu)
  local secs
  secs=$(echo "$end - $start" | bc)
  echo "$label: $N rows in $secs s ($(echo "$N / $secs" | bc) rows/s); PostgreSQL used $( [[ $pg0 == "?" ]] && echo "?" || echo "$pg1 - $pg0" | bc) CPU s"
  for j in $(seq 1 "$i"); do tail -n 1 "$work/err$j"; done
  psql "$DATABASE_URL" -qtAc "SELECT '  items per replica: ' || string_agg(replica || ' ' || items, ', ') FROM $schema.batch_job_replicas WHERE job_id = (SELECT id FROM $schema.batch_jobs WHERE total = $N)"
  psql "$DATABASE_URL" -qc "SET client_min_messages = warning; DROP SCHEMA $schema CASCADE"
  echo "$secs" > "$work/secs-$label"
}

echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
run one 0
run two 0 1
echo "speed-up with two replicas: $(echo "scale=2; $(cat "$work/secs-one") / $(cat "$work/secs-two")" | bc)x"
