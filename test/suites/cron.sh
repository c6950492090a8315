#!/usr/bin/env bash
# Cron schedules against a real server:
#  (a) property test: taskmill.cron_next against a brute-force oracle (test/cron/cron_property.cpp)
#      on thousands of random expressions, instants and time zones;
#  (b) TestRace_MultipleSchedulers: 5 sessions call run_due_schedules in a loop while due
#      ticks come round; every tick of every schedule is enqueued exactly once;
#  (c) TestRace_SchedulerDuringRegister: two sessions re-register the queue's schedules over
#      and over during (b); no error, no deadlock, nothing lost or doubled.
# The background worker has its own suite (cron_bgworker.sh), the parser's fuzz target too
# (cron_fuzz.sh).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$TOP"

work=$(mktemp -d /tmp/taskmill-cron.XXXXXX)
start_cluster
trap '"$TOP/scripts/pg-cluster.sh" stop "$TASKMILL_PGDATA"; rm -rf "$work"' EXIT
new_db taskmill_cron
export PGDATABASE=taskmill_cron

# Wait (up to $1 seconds) until the SQL query $2 returns t.
wait_for() {
	local limit=$1 query=$2 i
	for ((i = 0; i < limit * 10; i++)); do
		[ "$(psql -XAtq -c "$query")" = t ] && return 0
		sleep 0.1
	done
	echo "timed out after ${limit}s waiting for: $query" >&2
	return 1
}

echo "== (a) property test: cron_next against a minute-by-minute oracle"
g++ -std=c++17 -O2 -Wall -Wextra -Werror -I"$(pg_config --includedir)" \
	test/cron/cron_property.cpp -lpq -o "$work/cron_property"
"$work/cron_property" "${TASKMILL_CRON_CASES:-6000}" "${TASKMILL_CRON_SEED:-20261125}"

echo "== (b) TestRace_MultipleSchedulers and (c) TestRace_SchedulerDuringRegister"
nsched=20
rounds=10
list=$(psql -XAtq -c "SELECT json_agg(json_build_object('operation_id', 'op' || g, 'cron', '* * * * *'))
	FROM generate_series(1, $nsched) g")
psql -XAtq -v ON_ERROR_STOP=1 -c "SELECT taskmill.register_schedules('race', '$list')" >/dev/null
# out of the way until the first round
psql -XAtq -v ON_ERROR_STOP=1 -c "UPDATE taskmill.task_schedules SET next_run_at = now() + interval '1 day'" >/dev/null

stop=$work/stop
pids=()
for s in 1 2 3 4 5; do
	(
		while [ ! -e "$stop" ]; do
			psql -XAtq -v ON_ERROR_STOP=1 -c "SELECT taskmill.run_due_schedules()" || exit 1
		done
	) >"$work/scheduler$s.out" 2>"$work/scheduler$s.err" &
	pids+=($!)
done
# Two registrars racing each other and the schedulers: same list, plus an extra schedule
# that comes and goes.
extra=$(psql -XAtq -c "SELECT (('$list')::jsonb || '[{\"operation_id\": \"extra\", \"cron\": \"@daily\"}]')::text")
for r in 1 2; do
	(
		while [ ! -e "$stop" ]; do
			psql -XAtq -v ON_ERROR_STOP=1 -c "SELECT taskmill.register_schedules('race', '$extra')" || exit 1
			psql -XAtq -v ON_ERROR_STOP=1 -c "SELECT taskmill.register_schedules('race', '$list')" || exit 1
		done
	) >"$work/register$r.out" 2>"$work/register$r.err" &
	pids+=($!)
done

for ((round = 1; round <= rounds; round++)); do
	# A new past tick for every schedule (distinct per round), then wait until all are run.
	psql -XAtq -v ON_ERROR_STOP=1 -c "UPDATE taskmill.task_schedules SET next_run_at =
		date_trunc('minute', now()) - interval '1 day' + $round * interval '1 minute'
		WHERE queue_name = 'race' AND operation_id <> 'extra'" >/dev/null
	wait_for 120 "SELECT count(*) = 0 FROM taskmill.task_schedules WHERE queue_name = 'race' AND next_run_at <= now()"
done
touch "$stop"
failed=0
for p in "${pids[@]}"; do wait "$p" || failed=1; done
cat "$work"/*.err >&2
[ "$failed" = 0 ] || { echo "a scheduler or registrar session failed"; exit 1; }
if grep -q . "$work"/*.err; then echo "sessions reported errors"; exit 1; fi

calls=$(cat "$work"/scheduler*.out | wc -l)
enqueued=$(cat "$work"/scheduler*.out | awk '{s += $1} END {print s + 0}')
registers=$(cat "$work"/register*.out | wc -l)
echo "5 schedulers made $calls run_due_schedules calls, 2 registrars $registers register_schedules calls"
result=$(psql -XAtq -c "SELECT count(*) || ' ' || count(DISTINCT idempotency_key) || ' ' ||
	(SELECT count(*) FROM (SELECT operation_id FROM taskmill.tasks WHERE queue_name = 'race'
	 GROUP BY operation_id HAVING count(*) = $rounds) x)
	FROM taskmill.tasks WHERE queue_name = 'race'")
read -r tasks keys exact <<<"$result"
echo "tasks: $tasks (distinct tick keys $keys), reported enqueued: $enqueued, schedules with exactly $rounds tasks: $exact of $nsched"
if [ "$tasks" != $((nsched * rounds)) ] || [ "$keys" != "$tasks" ] || [ "$enqueued" != "$tasks" ] || [ "$exact" != "$nsched" ]; then
	echo "FAIL TestRace_MultipleSchedulers: expected $((nsched * rounds)) tasks, each tick exactly once"
	exit 1
fi
echo "ok TestRace_MultipleSchedulers: $rounds ticks x $nsched schedules, each enqueued exactly once"
n=$(psql -XAtq -c "SELECT count(*) FROM taskmill.task_schedules WHERE queue_name = 'race' AND operation_id <> 'extra'")
[ "$n" = "$nsched" ] || { echo "FAIL TestRace_SchedulerDuringRegister: $n schedules left"; exit 1; }
echo "ok TestRace_SchedulerDuringRegister: $registers registrations during the runs, no error, all $nsched schedules intact"
echo "# All cron tests passed"
