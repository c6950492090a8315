# Shared helpers for test suites (sourced, not run). Each suite runs against its own
# throwaway cluster so suites can run in parallel.
#
#   start_cluster [-c name=value ...]   start a cluster, export PGHOST/PGPORT/PGUSER, stop it on exit
#   new_db NAME [EXT ...]               create database NAME with taskmill (and EXT ...) installed
#   q DB SQL                            run SQL in DB, print the rows unaligned (-XAt)
#   wait_true SEC DB QUERY              wait until QUERY in DB returns t, else show the server log and fail
#   background_work NAME                $work (a temporary folder) and pids=() for background
#                                       processes: on exit they and their children are killed,
#                                       $work goes, the cluster stops
#   at_exit CMD                         run CMD when the suite exits (latest first); a suite's
#                                       clean-up goes here, never into a trap of its own
#
# A suite kills what it started, on success and failure: every process it starts inherits
# TASKMILL_SUITE_RUN (this suite's run), and on exit, after the at_exit commands, whatever of
# those is still running is listed and ended (scripts/procs.sh). scripts/test.sh checks after
# all suites that none is left.

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$TOP/scripts/procs.sh"

export TASKMILL_SUITE_RUN="${0##*/}:$$"
suite_exit_cmds=()
at_exit() { suite_exit_cmds+=("$1"); }
suite_exit() {
	local rc=$? i pass left=()
	set +e
	for ((i = ${#suite_exit_cmds[@]} - 1; i >= 0; i--)); do eval "${suite_exit_cmds[i]}"; done
	# Twice: a process forked just now shows the mark in /proc only once it has exec'd.
	for pass in 1 2; do
		marked_pids "TASKMILL_SUITE_RUN=$TASKMILL_SUITE_RUN" left
		if [ ${#left[@]} -gt 0 ]; then
			echo "# ${0##*/} left processes running; ending them:" >&2
			for i in "${left[@]}"; do proc_line "$i" >&2; done
			end_pids "${left[@]}"
		fi
		[ "$pass" = 1 ] && sleep 0.3
	done
	exit "$rc"
}
trap suite_exit EXIT
# A suite stopped by a signal still cleans up.
trap 'exit 130' INT
trap 'exit 143' TERM HUP

start_cluster() {
	eval "$("$TOP/scripts/pg-cluster.sh" start "$@")"
	at_exit '"$TOP/scripts/pg-cluster.sh" stop "$TASKMILL_PGDATA"'
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

# Call it after start_cluster: the background processes end before the cluster stops. A pid
# in pids may be a subshell (a shell function run with &): its children are ended with it.
background_work() {
	work=$(mktemp -d "/tmp/taskmill-$1.XXXXXX")
	pids=()
	at_exit background_work_cleanup
}

background_work_cleanup() {
	local p tree mine=()
	tree_pids tree "${pids[@]}"
	# Only processes of this suite: a pid that exited early may have been reused since.
	# A background job of this shell is its own child, whose pid no one reuses before this
	# shell waits for it; a function run in the background (a subshell that never exec'd)
	# carries no mark in /proc, as it kept the environment this shell started with.
	for p in "${tree[@]}"; do
		if pid_marked "$p" "TASKMILL_SUITE_RUN=$TASKMILL_SUITE_RUN" || [ "$(ppid_of "$p")" = "$$" ]; then
			mine+=("$p")
		fi
	done
	end_pids "${mine[@]}"
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
