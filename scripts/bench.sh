#!/usr/bin/env bash
# `make bench`: the Go benchmarks (model and server) and the wrk scenarios of
# scripts/load.sh, printed as one Markdown table with the date and machine.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp)
trap 'rm -f "$out"' EXIT

echo "tagifai benchmarks, $(date -u +%Y-%m-%d), $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(go version | cut -d' ' -f3)"
echo
echo "| benchmark | result |"
echo "| --- | --- |"
go test -run '^$' -bench . -benchmem -benchtime "${BENCHTIME:-1s}" ./model/ ./server/ 2>/dev/null |
  awk '/^Benchmark/ {
    name = $1; sub(/-[0-9]+$/, "", name)
    line = ""
    for (i = 3; i < NF; i += 2) line = line (line == "" ? "" : ", ") $i " " $(i + 1)
    printf "| go: %s | %s |\n", name, line
  }'
scripts/load.sh > "$out" 2>&1
awk '/req\/s/ {
    split($0, parts, /  +/)
    name = parts[1]; sub(/ +[0-9.]+$/, "", name)
    match($0, /[0-9.]+ req\/s.*/); printf "| wrk: %s | %s |\n", name, substr($0, RSTART, RLENGTH)
  }
  /resident memory/ { printf "| resident memory after the runs | %s MB |\n", $(NF - 1) }
  /startup to first 200/ { sub(/^startup to first 200: /, ""); printf "| start to first 200 on GET / | %s |\n", $0 }' "$out"
