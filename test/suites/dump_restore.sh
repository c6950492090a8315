#!/usr/bin/env bash
# Backup and restore of a busy queue database with pg_dump: tasks in every state, results,
# schedules (test/dump_restore/fill.sql) and a worker mid-flight (an open transaction that
# has claimed tasks and enqueued one) are dumped, in custom format and as plain SQL, and
# restored into new databases (pg_restore; psql). The extension's tables are marked with
# pg_extension_config_dump, so CREATE EXTENSION comes back first and then their rows:
#   - every row of tasks, task_results and task_schedules comes back, as committed at the dump;
#   - the sequences come back where they were: new tasks and schedules get ids never used;
#   - the CLI worker (`taskmill worker --until-empty`, built from client/) drains the restored
#     queue: every task completed once, the deliveries that were in flight redelivered.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$TOP"

# The worker: the taskmill CLI, built incrementally in a build directory of this suite's own.
cli_build=build/dump_restore-client
t0=$SECONDS
cmake -S client -B "$cli_build" -DCMAKE_BUILD_TYPE= -DTASKMILL_BUILD_EXAMPLES=OFF >"$cli_build.configure.log" 2>&1 \
	|| { cat "$cli_build.configure.log"; exit 1; }
cmake --build "$cli_build" -j 2 --target taskmill_cli >"$cli_build.build.log" 2>&1 \
	|| { grep -E 'error' -A5 "$cli_build.build.log" | head -60; exit 1; }
cli=$TOP/$cli_build/taskmill
echo "built the taskmill CLI in $((SECONDS - t0))s"

start_cluster
work=$(mktemp -d /tmp/taskmill-dump.XXXXXX)
at_exit 'rm -rf "$work"'
q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }
val() { psql -X -A -t -v ON_ERROR_STOP=1 "$@"; }
failures=0
check() { # check WHAT COMMAND...: run a check, report it
	local what=$1
	shift
	if "$@"; then echo "ok: $what"; else echo "FAIL: $what"; failures=$((failures + 1)); fi
}

new_db busy
q -o /dev/null -d busy -f test/dump_restore/fill.sql
inflight_ids=$(val -d busy -c "SELECT pg_catalog.string_agg(id::text, ',' ORDER BY id) FROM taskmill.tasks
	WHERE queue_name = 'dr_work' AND lease IS NOT NULL")
echo "busy: $(val -d busy -c "SELECT pg_catalog.count(*) FROM taskmill.tasks") tasks," \
	"$(val -d busy -c "SELECT pg_catalog.count(*) FROM taskmill.task_results") results," \
	"$(val -d busy -c "SELECT pg_catalog.count(*) FROM taskmill.task_schedules") schedules; in flight: $inflight_ids"

# A worker mid-flight during the dump: claimed two tasks and enqueued one, not committed.
PGAPPNAME=dr_midflight psql -X -q -d busy >"$work/midflight.log" 2>&1 <<'SQL' &
BEGIN;
SELECT pg_catalog.count(*) FROM taskmill.dequeue('dr_work', 2, '1 minute');
SELECT taskmill.enqueue('dr_work', 'echo', '{"uncommitted": true}');
SELECT pg_catalog.pg_sleep(120);
SQL
midflight=$!
for _ in $(seq 1 300); do
	[ "$(val -d busy -c "SELECT pg_catalog.count(*) FROM pg_catalog.pg_stat_activity
		WHERE application_name = 'dr_midflight' AND query LIKE '%pg_sleep%'")" = 1 ] && break
	sleep 0.1
done

pg_dump -Fc -d busy -f "$work/busy.dump"
pg_dump -Fp -d busy -f "$work/busy.sql"
echo "dumped: $(stat -c %s "$work/busy.dump") bytes custom, $(stat -c %s "$work/busy.sql") bytes plain"

# What the dump must hold: the committed rows and the sequences, read while the mid-flight
# transaction is still open.
export_rows() { # DB PREFIX
	local t
	for t in tasks task_results task_schedules; do
		q -d "$1" -c "\\copy (SELECT * FROM taskmill.$t ORDER BY id) TO '$2.$t'"
	done
	q -d "$1" -c "\\copy (SELECT sequencename, last_value FROM pg_catalog.pg_sequences WHERE schemaname = 'taskmill' ORDER BY 1) TO '$2.sequences'"
}
export_rows busy "$work/busy"
val -d postgres -c "SELECT pg_catalog.pg_cancel_backend(pid) FROM pg_catalog.pg_stat_activity
	WHERE application_name = 'dr_midflight'" >/dev/null
wait "$midflight" || true
grep -q "canceling statement" "$work/midflight.log" || { cat "$work/midflight.log"; echo "FAIL: the mid-flight session"; exit 1; }

q -d postgres -c "CREATE DATABASE restored" -c "CREATE DATABASE restored_plain"
pg_restore --exit-on-error -d restored "$work/busy.dump"
q -o /dev/null -d restored_plain -f "$work/busy.sql"

same_rows() { # DB: the restored database's rows and sequences are the dumped ones
	local db=$1 t rc=0
	export_rows "$db" "$work/$db"
	for t in tasks task_results task_schedules sequences; do
		if ! diff -u "$work/busy.$t" "$work/$db.$t" >"$work/$db.$t.diff"; then
			echo "$db: taskmill.$t differs from the dump's source (- source, + restored):"
			head -n 40 "$work/$db.$t.diff"
			rc=1
		fi
	done
	[ "$(wc -l <"$work/$db.tasks")" -gt 30 ] || { echo "$db: only $(wc -l <"$work/$db.tasks") tasks"; rc=1; }
	return $rc
}
check "pg_restore of the custom dump: every task, result, schedule and sequence as committed" same_rows restored
check "psql of the plain dump: every task, result, schedule and sequence as committed" same_rows restored_plain
check "the uncommitted enqueue and claims of the worker mid-flight are not in the dump" \
	test "$(val -d restored -c "SELECT pg_catalog.count(*) FROM taskmill.tasks WHERE payload ? 'uncommitted'")" = 0

# Ids are not reused: the sequences continue after every id the source handed out (the
# uncommitted enqueue's included).
fresh_ids() {
	local db=$1 last_task last_sched task sched
	last_task=$(val -d busy -c "SELECT last_value FROM taskmill.tasks_id_seq")
	last_sched=$(val -d busy -c "SELECT last_value FROM taskmill.task_schedules_id_seq")
	task=$(val -d "$db" -c "SELECT taskmill.enqueue('dr_new', 'echo', '{}')")
	val -d "$db" -c "SELECT taskmill.register_schedules('dr_new', '[{\"operation_id\": \"new\", \"cron\": \"@daily\"}]')" >/dev/null
	sched=$(val -d "$db" -c "SELECT id FROM taskmill.task_schedules WHERE queue_name = 'dr_new'")
	echo "$db: new task id $task (source's last $last_task), new schedule id $sched (source's last $last_sched)"
	[ "$task" -gt "$last_task" ] && [ "$sched" -gt "$last_sched" ] &&
		[ "$(val -d "$db" -c "SELECT taskmill.purge('dr_new')")" = 1 ]
}
check "restored sequences hand out new task and schedule ids" fresh_ids restored
check "restored sequences hand out new task and schedule ids (plain dump)" fresh_ids restored_plain
duplicate_refused() {
	! psql -X -q -d restored -c "SELECT taskmill.enqueue('dr_work', 'echo', '{}', idempotency_key => 'dr-key-1')" \
		>"$work/dup.log" 2>&1 && grep -q 'already exists' "$work/dup.log"
}
check "a restored task's idempotency key is still unique in its queue" duplicate_refused

# The CLI worker drains the restored queue.
expected=$(val -d restored -c "SELECT pg_catalog.count(*) FROM taskmill.tasks WHERE queue_name = 'dr_work'")
t0=$SECONDS
if ! PGDATABASE=restored timeout 120 "$cli" worker dr_work --until-empty --concurrency 4 --batch-size 5 \
	--poll-interval 100 --visibility-timeout 10000 >"$work/worker.log" 2>&1; then
	cat "$work/worker.log"
	echo "FAIL: the worker did not drain the restored queue"
	exit 1
fi
echo "the worker ran $((SECONDS - t0))s: $(grep -c . "$work/worker.log") lines of output"
drained() {
	val -d restored <<SQL
SELECT pg_catalog.format('left in dr_work: %s; results: %s of %s (ephemeral: 1); echo results = payload: %s;'
		' in-flight tasks redelivered (attempts 2): %s of %s',
	(SELECT s.total FROM taskmill.queue_stats('dr_work') s),
	(SELECT pg_catalog.count(*) FROM taskmill.task_results WHERE queue_name = 'dr_work'), $expected,
	(SELECT pg_catalog.bool_and(result = payload) FROM taskmill.task_results
	 WHERE queue_name = 'dr_work' AND operation_id = 'echo'),
	(SELECT pg_catalog.count(*) FROM taskmill.task_results WHERE id IN ($inflight_ids) AND attempts = 2),
	pg_catalog.cardinality('{$inflight_ids}'::bigint[]));
SQL
	val -d restored <<SQL | grep -qx t
SELECT (SELECT s.total FROM taskmill.queue_stats('dr_work') s) = 0
   AND (SELECT pg_catalog.count(*) FROM taskmill.task_results WHERE queue_name = 'dr_work') = $expected - 1
   AND (SELECT pg_catalog.bool_and(result = payload) FROM taskmill.task_results
		WHERE queue_name = 'dr_work' AND operation_id = 'echo')
   AND (SELECT pg_catalog.count(*) FROM taskmill.task_results WHERE id IN ($inflight_ids) AND attempts = 2)
	   = pg_catalog.cardinality('{$inflight_ids}'::bigint[])
SQL
}
check "the CLI worker drained the restored queue: every task completed once" drained

if [ "$failures" -ne 0 ]; then
	echo "dump_restore: $failures checks failed"
	exit 1
fi
echo "# All dump/restore checks passed"
