# Shared helpers for test suites (sourced, not run). Each suite runs against its own
# throwaway cluster so suites can run in parallel.
#
#   start_cluster [-c name=value ...]   start a cluster, export PGHOST/PGPORT/PGUSER, stop it on exit
#   new_db NAME [EXT ...]               create database NAME with taskmill (and EXT ...) installed

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

start_cluster() {
	eval "$("$TOP/scripts/pg-cluster.sh" start "$@")"
	trap '"$TOP/scripts/pg-cluster.sh" stop "$TASKMILL_PGDATA"' EXIT
}

new_db() {
	local db=$1
	shift
	psql -q -d postgres -v ON_ERROR_STOP=1 -c "CREATE DATABASE \"$db\"" >/dev/null
	local ext
	for ext in taskmill "$@"; do
		psql -q -d "$db" -v ON_ERROR_STOP=1 -c "CREATE EXTENSION \"$ext\"" >/dev/null
	done
}
