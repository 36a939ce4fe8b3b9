#!/usr/bin/env bash
# Start or stop a throwaway PostgreSQL cluster for tests.
#
#   eval "$(scripts/postgres.sh start)"   # prints export lines, logs to stderr
#   scripts/postgres.sh stop [DIR]        # DIR defaults to $TAGIFAI_POSTGRES_DIR
#
# Installs nothing: it needs Debian's `postgresql` package (or any build whose
# initdb and pg_ctl are in PG_BIN, default the newest /usr/lib/postgresql/*/bin).
# The cluster lives in a new temporary directory, listens on 127.0.0.1 only (and
# on a socket in that directory), runs with fsync on, and is owned by the
# postgres user when run as root. It holds one database, tagifai, owned by a
# role tagifai (not a superuser) with a random password; start prints
#
#   export TAGIFAI_TEST_POSTGRES_URL=postgres://tagifai:PASSWORD@127.0.0.1:PORT/tagifai?sslmode=disable
#   export TAGIFAI_POSTGRES_DIR=DIR
#
# PORT is random unless PGPORT_TEST is set. stop shuts the cluster down and
# removes DIR.
set -euo pipefail

die() { echo "postgres.sh: $*" >&2; exit 1; }

pg_bin() {
	if [[ -n "${PG_BIN:-}" ]]; then echo "$PG_BIN"; return; fi
	local bin
	bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
	[[ -n "$bin" && -x "$bin/initdb" ]] ||
		die "no PostgreSQL found: apt-get update && apt-get install -y postgresql (or set PG_BIN)"
	echo "$bin"
}

# as_owner runs a command as the cluster's owner: postgres when we are root
# (initdb refuses to run as root), ourselves otherwise.
as_owner() {
	if [[ $(id -u) -eq 0 ]]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start() {
	local bin dir port password tries
	bin=$(pg_bin)
	if [[ $(id -u) -eq 0 ]]; then
		id postgres >/dev/null 2>&1 || die "running as root needs a postgres user (Debian's package creates one)"
	fi
	dir=$(mktemp -d "${TMPDIR:-/tmp}/tagifai-pg.XXXXXX")
	[[ $(id -u) -eq 0 ]] && chown postgres: "$dir"
	password=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
	printf '%s\n' "$password" >"$dir/pwfile"
	[[ $(id -u) -eq 0 ]] && chown postgres: "$dir/pwfile"
	chmod 600 "$dir/pwfile"

	as_owner "$bin/initdb" -D "$dir/data" -U postgres --pwfile="$dir/pwfile" \
		--auth-local=peer --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
		{ cat "$dir/initdb.log" >&2; rm -rf "$dir"; die "initdb failed"; }

	for tries in 1 2 3 4 5; do
		port=${PGPORT_TEST:-$((20000 + RANDOM % 20000))}
		port_free "$port" || continue
		if as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start \
			-o "-k $dir -p $port -c listen_addresses=127.0.0.1 -c fsync=on" >/dev/null; then
			break
		fi
		port=""
		[[ -n "${PGPORT_TEST:-}" ]] && break
	done
	if [[ -z "$port" ]]; then
		cat "$dir/server.log" >&2 || true
		rm -rf "$dir"
		die "could not start the server"
	fi

	# The role and its database, over the socket as the postgres superuser.
	as_owner "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -U postgres -d postgres \
		-c "CREATE ROLE tagifai LOGIN PASSWORD '$password'" \
		-c "CREATE DATABASE tagifai OWNER tagifai" >&2 ||
		{ stop "$dir"; die "could not create the database"; }

	echo "postgres.sh: PostgreSQL $("$bin/pg_ctl" --version | awk '{print $3}') on 127.0.0.1:$port, data in $dir" >&2
	echo "export TAGIFAI_TEST_POSTGRES_URL=postgres://tagifai:$password@127.0.0.1:$port/tagifai?sslmode=disable"
	echo "export TAGIFAI_POSTGRES_DIR=$dir"
}

stop() {
	local dir=${1:-${TAGIFAI_POSTGRES_DIR:-}}
	[[ -n "$dir" ]] || die "stop: which cluster? give its directory or set TAGIFAI_POSTGRES_DIR"
	[[ -f "$dir/pwfile" ]] || die "stop: $dir is not a cluster made by postgres.sh"
	if [[ -f "$dir/data/postmaster.pid" ]]; then
		as_owner "$(pg_bin)/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null ||
			echo "postgres.sh: pg_ctl stop failed; see $dir/server.log" >&2
	fi
	rm -rf "$dir"
}

case "${1:-start}" in
start) start ;;
stop) stop "${2:-}" ;;
*) die "usage: $0 [start] | stop [DIR]" ;;
esac
