# Shared helpers for test suites (sourced, not run). Each suite runs against its own
# throwaway cluster so suites can run in parallel.
#
#   start_cluster [-c name=value ...]   start a cluster, export PGHOST/PGPORT/PGUSER, stop it on exit
#   new_db NAME [EXT ...]               create database NAME with taskmill (and EXT ...) installed
#   q DB SQL                            run SQL in DB, print the rows unaligned (-XAt)
#   wait_true SEC DB QUERY              wait until QUERY in DB returns t, else show the server log and fail
#   background_work NAME                $work (a temporary folder) and pids=() for background
#                                       processes: on exit they are killed, $work goes, the cluster stops

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

q() { psql -XAtq -d "$1" -v ON_ERROR_STOP=1 -c "$2"; }

# Connection failures (a server restarting after a crash) count as "not yet".
wait_true() {
	local limit=$1 db=$2 query=$3 i
	for ((i = 0; i < limit * 10; i++)); do
		[ "$(psql -XAtq -d "$db" -c "$query" 2>/dev/null)" = t ] && return 0
		sleep 0.1
	done
	echo "FAIL: timed out after ${limit}s waiting in $db for: $query" >&2
	tail -n 30 "$TASKMILL_PGDATA/server.log" >&2
	return 1
}

# Replaces start_cluster's exit trap (and still stops the cluster), so call it after.
background_work() {
	work=$(mktemp -d "/tmp/taskmill-$1.XXXXXX")
	pids=()
	trap background_work_cleanup EXIT
}

background_work_cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$work"
	"$TOP/scripts/pg-cluster.sh" stop "$TASKMILL_PGDATA"
}
