#!/usr/bin/env bash
# taskmill behind PgBouncer (Debian's pgbouncer, pool_mode = transaction) in front of the
# suite's cluster:
#   - the GoogleTest cases of Enqueue, EnqueueBatch, Worker, FIFO, DLQ and Scheduler with the
#     code under test connected through PgBouncer (TASKMILL_TEST_CLIENT_CONNINFO): the
#     Client detects the pooler, sends no named prepared statements there, and its Workers
#     listen on a direct connection (ClientOptions::listen_conninfo);
#   - the CLI through PgBouncer alone: `taskmill enqueue` five times, `taskmill migrate`
#     (twice at once), and a worker draining the queue by polling (no direct connection).
# The pool is kept small (3 server connections) so consecutive transactions of one client
# land on different server sessions, as they do in production.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$TOP"

if ! command -v pgbouncer >/dev/null && [ ! -x /usr/sbin/pgbouncer ]; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends pgbouncer >/dev/null
fi
PGBOUNCER=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)

build=build/test-pgbouncer
t0=$SECONDS
cmake -S test/client -B "$build" -DCMAKE_BUILD_TYPE= >"$build.configure.log" 2>&1 \
	|| { cat "$build.configure.log"; exit 1; }
cmake --build "$build" -j 2 --target enqueuer_test worker_test fifo_test dlq_test scheduler_test \
	edge_test taskmill_cli >"$build.build.log" 2>&1 \
	|| { grep -E 'error' -A5 "$build.build.log" | head -60; exit 1; }
echo "built the client tests and CLI in $((SECONDS - t0))s"

start_cluster
export TASKMILL_TEST_TEMPLATE=taskmill_test_template
work=$(mktemp -d /tmp/taskmill-pgbouncer.XXXXXX)
chown postgres: "$work"
bouncer_pid=""
cleanup() {
	# runuser passes the signal on and exits after its child (or 2 s later): wait for it.
	if [ -n "$bouncer_pid" ]; then
		kill "$bouncer_pid" 2>/dev/null
		wait "$bouncer_pid" 2>/dev/null
	fi
	rm -rf "$work"
}
at_exit cleanup

# PgBouncer on a free loopback port, as the postgres OS user (it refuses to run as root).
port=""
for p in $(shuf -i 20000-60000 -n 200); do
	if ! (exec 3<>/dev/tcp/127.0.0.1/"$p") 2>/dev/null; then port=$p; break; fi
done
[ -n "$port" ] || { echo "no free port for pgbouncer"; exit 1; }
echo '"postgres" ""' >"$work/userlist.txt"
cat >"$work/pgbouncer.ini" <<INI
[databases]
* = host=127.0.0.1 port=$PGPORT
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = trust
auth_file = $work/userlist.txt
pool_mode = transaction
default_pool_size = 3
max_client_conn = 400
server_reset_query =
logfile = $work/pgbouncer.log
pidfile = $work/pgbouncer.pid
INI
chown postgres: "$work"/*
runuser -u postgres -- "$PGBOUNCER" "$work/pgbouncer.ini" >/dev/null 2>&1 &
bouncer_pid=$!
for _ in $(seq 1 100); do
	psql -X -q -h 127.0.0.1 -p "$port" -d postgres -c 'SELECT 1' >/dev/null 2>&1 && break
	sleep 0.1
done
psql -X -q -h 127.0.0.1 -p "$port" -d postgres -c 'SELECT 1' >/dev/null \
	|| { cat "$work/pgbouncer.log"; exit 1; }
echo "pgbouncer $("$PGBOUNCER" --version | head -n 1) on port $port, pool_mode = transaction"

failures=0
check() { # check WHAT COMMAND...
	local what=$1
	shift
	if "$@"; then echo "ok: $what"; else echo "FAIL: $what"; failures=$((failures + 1)); fi
}

# 1. The client's cases through PgBouncer.
export TASKMILL_TEST_CLIENT_CONNINFO="host=127.0.0.1 port=$port"
run_cases() { # run_cases EXE FILTER
	local log="$work/$1.log"
	if "$build/$1" --gtest_filter="$2" --gtest_brief=1 >"$log" 2>&1; then
		echo "ok: $1 $2 ($(grep -oE '[0-9]+ tests?' "$log" | head -n 1))"
	else
		echo "FAIL: $1 $2"
		tail -n 60 "$log"
		failures=$((failures + 1))
	fi
}
run_cases enqueuer_test 'Enqueue*.*'
run_cases worker_test 'Worker.*'
run_cases fifo_test 'FIFO.*'
run_cases dlq_test 'DLQ.*'
run_cases scheduler_test 'Scheduler.*'
run_cases edge_test 'Edge.Pooling_*:Edge.ConcurrentMigration'
unset TASKMILL_TEST_CLIENT_CONNINFO

# 2. The CLI through PgBouncer only (no direct connection: its worker polls).
cli=$TOP/$build/client/taskmill
psql -X -q -d postgres -c 'CREATE DATABASE bounced' >/dev/null
dsn="host=127.0.0.1 port=$port dbname=bounced"
migrate_twice() {
	timeout 60 "$cli" --dsn "$dsn" migrate >"$work/m1.log" 2>&1 &
	local a=$!
	timeout 60 "$cli" --dsn "$dsn" migrate >"$work/m2.log" 2>&1 || { cat "$work/m2.log"; return 1; }
	wait "$a" || { cat "$work/m1.log"; return 1; }
}
check "taskmill migrate, twice at once" migrate_twice
enqueue_five() {
	local i
	for i in 1 2 3 4 5; do
		timeout 30 "$cli" --dsn "$dsn" enqueue bq echo "{\"i\": $i}" >/dev/null || return 1
	done
}
check "taskmill enqueue x5" enqueue_five
check "five tasks queued" test "$(psql -X -A -t -d bounced -c "SELECT count(*) FROM taskmill.tasks WHERE queue_name = 'bq'")" = 5
check "taskmill worker --until-empty drains them (polling)" \
	timeout 120 "$cli" --dsn "$dsn" worker bq --poll-interval 100 --until-empty
check "five results" test "$(psql -X -A -t -d bounced -c "SELECT count(*) FROM taskmill.task_results WHERE queue_name = 'bq'")" = 5
# With --listen-dsn (a direct connection for LISTEN) an idle worker behind PgBouncer is
# woken by the enqueue's NOTIFY: it handles a task long before its one-minute poll.
listen_wakes() {
	timeout 60 "$cli" --dsn "$dsn" worker lq --poll-interval 60000 \
		--listen-dsn "host=$PGHOST port=$PGPORT dbname=bounced" >"$work/lw.log" 2>&1 &
	local w=$! i
	# idle: listening, and holding the idle-waiter lock that makes enqueues NOTIFY
	for i in $(seq 100); do
		[ "$(psql -X -A -t -d bounced -c "SELECT count(*) FROM pg_stat_activity
			WHERE datname = 'bounced' AND query LIKE '%taskmill.wait_begin%'")" -ge 1 ] && break
		sleep 0.1
	done
	timeout 30 "$cli" --dsn "$dsn" enqueue lq echo '{"woken": true}' >/dev/null || { kill "$w"; return 1; }
	for i in $(seq 100); do
		[ "$(psql -X -A -t -d bounced -c "SELECT count(*) FROM taskmill.task_results WHERE queue_name = 'lq'")" = 1 ] && break
		sleep 0.1
	done
	kill -INT "$w"
	wait "$w" || true
	test "$(psql -X -A -t -d bounced -c "SELECT count(*) FROM taskmill.task_results WHERE queue_name = 'lq'")" = 1 \
		|| { cat "$work/lw.log"; return 1; }
}
check "taskmill worker --listen-dsn: woken by NOTIFY behind PgBouncer (poll interval 60 s)" listen_wakes
check "no prepared-statement errors in pgbouncer's log" \
	bash -c "! grep -iE 'prepared statement' '$work/pgbouncer.log'"

if [ "$failures" -ne 0 ]; then
	echo "pgbouncer: $failures check(s) failed"
	exit 1
fi
echo "pgbouncer: every check passed"
