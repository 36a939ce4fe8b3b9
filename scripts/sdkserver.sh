# Sourced by scripts/ts-check.sh and scripts/browser-test.sh: install the
# pinned Node tools when they are missing or stale, build tagifai, and start
# it on a free loopback port with the committed model, a scratch data
# directory and an admin user; the server is stopped and the scratch
# directory removed on exit.
#
#   start_sdk_server   start ./bin/tagifai serve; sets $pid, $BASE_URL, $ADMIN_KEY
#   $work              the scratch directory

cd "$(dirname "${BASH_SOURCE[0]}")/.."
work=$(mktemp -d)
pid=

stop_sdk_server() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  pid=
  rm -rf "$work"
}
trap stop_sdk_server EXIT

# node_deps runs npm ci when node_modules is older than the lockfile.
# node_deps DIR: the Node packages pinned in DIR/package-lock.json.
node_deps() {
  if [ ! "$1/node_modules/.package-lock.json" -nt "$1/package-lock.json" ]; then
    (cd "$1" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}

start_sdk_server() {
  make -s build
  ADMIN_KEY=$(./bin/tagifai users create --data-dir "$work/data" --name sdk-check --role admin 2>"$work/users.log") || {
    cat "$work/users.log" >&2; exit 1; }
  ./bin/tagifai serve --artifacts artifacts --data-dir "$work/data" --addr 127.0.0.1:0 2>"$work/server.log" &
  pid=$!
  local _ addr=
  for _ in $(seq 1 1000); do
    addr=$(sed -n 's/.*"msg":"listening","addr":"\([^"]*\)".*/\1/p' "$work/server.log" | head -1)
    if [ -n "$addr" ] && curl -fso /dev/null "http://$addr/health/ready"; then
      BASE_URL=http://$addr
      export BASE_URL ADMIN_KEY
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.02
  done
  echo "$0: server did not become ready" >&2
  tail -20 "$work/server.log" >&2
  exit 1
}
