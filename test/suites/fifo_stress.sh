#!/usr/bin/env bash
# TestPerf_FIFO_LockContention, TestFIFO_AdvisoryLock_Serialization: hot FIFO groups under
# concurrent dequeue + ack loops, each call in its own transaction
# (pgbench clients running test/stress/dequeue_ack_*.sql): one hot group and four, batch 1
# and batch 10, 4 and 16 clients. Each scenario must show
#   - every call returning (pgbench's slowest transaction under STRESS_MAX_MS, 10 s: the
#     stall this guards against ran for minutes; the figures themselves are bench/'s),
#   - no lock wait of a second or more (log_lock_waits with deadlock_timeout = 1 s: an
#     ack waiting on a dequeue, or a dequeue on another),
#   - each group completed in order, each task delivered once (test/stress/check.sql),
# and afterwards one client drains what is left, in order.
#
#   STRESS_SECONDS=8   how long each scenario's clients run
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$TOP"
secs=${STRESS_SECONDS:-8}
max_ms=${STRESS_MAX_MS:-10000}
start_cluster -c log_lock_waits=on -c deadlock_timeout=1s -c max_connections=40
background_work fifo_stress
failures=0

# scenario NAME GROUPS TASKS_PER_GROUP BATCH CLIENTS [far]
# far: each group first gets a task at priority 100 scheduled nine years ahead (a producer's
# attempt to stop the group): it must head nothing, and stays behind, scheduled.
scenario() {
	local name=$1 groups=$2 per=$3 batch=$4 clients=$5 far=${6:-} db="stress_$1"
	new_db "$db"
	[ -z "$far" ] || q "$db" "SELECT count(taskmill.enqueue('stress', 'far', priority => 100, task_group_id => 'g' || gr.n,
		scheduled_at => now() + interval '9 years')) FROM generate_series(1, $groups) gr(n)" >/dev/null
	q "$db" "SELECT count(*) FROM (SELECT taskmill.enqueue_batch('stress', (SELECT jsonb_agg(jsonb_build_object(
		'operation_id', 'op' || i, 'task_group_id', 'g' || gr.n)) FROM generate_series(1, $per) i)) FROM generate_series(1, $groups) gr(n)) s" >/dev/null
	q "$db" "VACUUM ANALYZE taskmill.tasks"
	local log_lines
	log_lines=$(wc -l <"$TASKMILL_PGDATA/server.log")
	mkdir -p "$work/$name"
	# a call stuck past 30 s fails its client (the stall this guards against never ended)
	(cd "$work/$name" && PGOPTIONS="-c statement_timeout=30s" timeout $((secs + 60)) pgbench -n -M prepared -c "$clients" -j "$clients" -T "$secs" -l \
		-f "$TOP/test/stress/dequeue_ack_$batch.sql" "$db" >pgbench.out 2>&1) || {
		echo "FAIL $name: pgbench failed"; cat "$work/$name/pgbench.out"; failures=$((failures + 1)); return; }
	local slowest waits check
	slowest=$(cat "$work/$name"/pgbench_log.* | awk '{ if ($3 > m) m = $3 } END { printf "%d", m / 1000 }')
	waits=$(tail -n +"$((log_lines + 1))" "$TASKMILL_PGDATA/server.log" | grep -c "still waiting" || true)
	check=$(psql -XAtq -d "$db" -f test/stress/check.sql)
	echo "$name ($groups group(s) of $per, batch $batch, $clients clients, ${secs}s):" \
		"$(grep -h 'transactions actually processed' "$work/$name/pgbench.out")," \
		"slowest ${slowest} ms, lock waits >= 1 s: $waits; $check"
	if [ "$slowest" -ge "$max_ms" ] || [ "$waits" -ne 0 ] || [ "${check#ok}" = "$check" ]; then
		echo "FAIL $name"
		tail -n +"$((log_lines + 1))" "$TASKMILL_PGDATA/server.log" | grep -A3 "still waiting" | head -20
		failures=$((failures + 1))
		return
	fi
	# One client drains the rest, as one transaction: every group empties, still in order
	# (a next head whose wake-up was missed would stop the loop early).
	q "$db" "DO \$\$ DECLARE n int; BEGIN LOOP
		SELECT count(taskmill.ack(d.id, d.lease)) INTO n FROM taskmill.dequeue('stress', 100) d;
		EXIT WHEN n = 0; END LOOP; END \$\$"
	check=$(psql -XAtq -d "$db" -f test/stress/check.sql)
	echo "  drained by one client: $check"
	case "$check" in "ok: "*", 0 left, "*) ;; *) echo "FAIL $name: not drained"; failures=$((failures + 1)) ;; esac
	if [ -n "$far" ] && [ "$(q "$db" "SELECT count(*) FROM taskmill.tasks WHERE queue_name = 'stress' AND operation_id = 'far' AND attempts = 0")" != "$groups" ]; then
		echo "FAIL $name: the far tasks did not stay scheduled"; failures=$((failures + 1))
	fi
}

scenario one_group_batch1_4 1 3000 1 4
scenario one_group_batch10_4 1 3000 10 4
scenario four_groups_batch10_4 4 1000 10 4
scenario one_group_batch1_16 1 3000 1 16
scenario four_groups_batch1_16 4 1000 1 16
scenario four_far_headed_groups_batch10_4 4 1000 10 4 far

[ "$failures" -eq 0 ] && echo "fifo_stress: 6 passed, 0 failed" || echo "fifo_stress: $((6 - failures)) passed, $failures failed"
[ "$failures" -eq 0 ]
