#!/usr/bin/env bash
# Run the store tests against a throwaway PostgreSQL (scripts/postgres.sh):
# start it, run every test that reads TAGIFAI_TEST_POSTGRES_URL, and stop it
# whatever the tests did. Needs Debian's postgresql package installed.
#
# The tests run are those named TestStore*, TestSQL*, TestPostgres*,
# TestReplicas*, TestServingAnnouncements and TestLookupWaitsForItsTurn in
# ./registry/ and in every other package whose tests
# mention TAGIFAI_TEST_POSTGRES_URL. GOTESTFLAGS are go test's flags, quoted
# as for the shell; `make test-postgres` passes make test's race flags (RACE
# in the Makefile), the default is -race (GOTESTFLAGS= for none,
# GOTESTFLAGS='-race -v' to list the tests).
set -euo pipefail
cd "$(dirname "$0")/.."

started=$(date +%s%N)
env_file=$(mktemp)
trap 'rm -f "$env_file"' EXIT
scripts/postgres.sh start >"$env_file"
# shellcheck disable=SC1090
. "$env_file"
trap 'scripts/postgres.sh stop "$TAGIFAI_POSTGRES_DIR"; rm -f "$env_file"' EXIT
export TAGIFAI_TEST_POSTGRES_URL

pkgs=(./registry/)
while IFS= read -r dir; do
	[[ "./$dir/" == ./registry/ ]] || pkgs+=("./$dir/")
done < <(grep -rl --include='*_test.go' --exclude-dir=node_modules --exclude-dir=.git TAGIFAI_TEST_POSTGRES_URL . |
	xargs -r -n1 dirname | sed 's|^\./||' | sort -u)

echo "== go test against PostgreSQL: ${pkgs[*]}"
eval "flags=(${GOTESTFLAGS--race})"
go test -count=1 "${flags[@]}" -run 'TestStore|TestBulkStore|TestSQL|TestPostgres|TestReplicas|TestServingAnnouncements|TestLookupWaitsForItsTurn' "${pkgs[@]}"
echo "== test-postgres took $((($(date +%s%N) - started) / 1000000)) ms"
