# Sourced by the scripts that measure a running server (load.sh, soak.sh,
# sigterm.sh, slowclient.sh, swap.sh, batch-bench.sh, batch-crash.sh): build
# tagifai, start it on loopback with the committed model and a scratch data directory,
# and stop it on exit. Set PORT before sourcing.
#
#   start_server [FLAGS...]   start ./bin/tagifai serve; sets $pid, $URL
#                             (under $SERVE_PREFIX, e.g. "taskset -c 0", if set)
#   stop_server               stop it and wait for it to exit
#   rss_kb                    the server's resident set size in KiB
#   $work                     a scratch directory, removed on exit

: "${PORT:?PORT must be set}"
ADDR=127.0.0.1:$PORT
URL=http://$ADDR
work=$(mktemp -d)
pid=

cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

make -s build

# A 120-character project text.
TEXT="Fine-tuning BERT transformers for named entity recognition and sentiment analysis on customer reviews with PyTorch"
TEXT=$(printf '%-120.120s' "$TEXT")

# write_body FILE N: a POST /predict body of N copies of $TEXT.
write_body() {
  local file=$1 n=$2 i
  { printf '{"texts":['
    for i in $(seq 1 "$n"); do [ "$i" -gt 1 ] && printf ','; printf '{"text":"%s"}' "$TEXT"; done
    printf ']}'; } > "$file"
}

start_server() {
  # shellcheck disable=SC2086 # SERVE_PREFIX is a command and its arguments
  TAGIFAI_DATA_DIR="$work/data" ${SERVE_PREFIX:-} ./bin/tagifai serve --artifacts artifacts --addr "$ADDR" "$@" 2>"$work/server.log" &
  pid=$!
  local _
  for _ in $(seq 1 1000); do
    curl -fso /dev/null "$URL/health/ready" && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.01
  done
  echo "$0: server did not become ready" >&2
  tail -20 "$work/server.log" >&2
  exit 1
}

stop_server() {
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    pid=
  fi
}

rss_kb() { ps -o rss= -p "$pid" | tr -d ' '; }
# cpu_s: the server's user + system CPU time so far, in seconds.
cpu_s() { awk '{ print ($14 + $15) / '"$(getconf CLK_TCK)"' }' "/proc/$pid/stat"; }
