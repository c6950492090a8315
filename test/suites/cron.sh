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
at_exit 'rm -rf "$work"'
start_cluster
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
rounds=15
list=$(psql -XAtq -c "SELECT json_agg(json_build_object('operation_id', 'op' || g, 'cron', '* * * * *'))
	FROM generate_series(1, $nsched) g")
psql -XAtq -v ON_ERROR_STOP=1 -c "SELECT taskmill.register_schedules('race', '$list')" >/dev/null
# the ticks the rounds below make due (the schedules' own minutely ticks may come too)
psql -XAtq -v ON_ERROR_STOP=1 -c "CREATE TABLE race_ticks (tick timestamptz)" >/dev/null
# out of the way until the first round
psql -XAtq -v ON_ERROR_STOP=1 -c "UPDATE taskmill.task_schedules SET next_run_at = now() + interval '1 day'" >/dev/null

stop=$work/stop
# Schedulers: each one session calling run_due_schedules every 10 ms (psql's \watch); they
# are stopped with SIGINT, which ends \watch (cancelling a call in flight, which then
# rolls back as a whole).
watchers=()
for s in 1 2 3 4 5; do
	printf 'SELECT taskmill.run_due_schedules() \\watch 0.01\n' |
		psql -XAtq -v ON_ERROR_STOP=1 >"$work/scheduler$s.out" 2>"$work/scheduler$s.err" &
	watchers+=($!)
done
pids=()
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
	psql -XAtq -v ON_ERROR_STOP=1 -c "WITH t AS (SELECT date_trunc('minute', now()) - interval '1 day'
		+ $round * interval '1 minute' AS tick), r AS (INSERT INTO race_ticks SELECT tick FROM t)
		UPDATE taskmill.task_schedules SET next_run_at = (SELECT tick FROM t)
		WHERE queue_name = 'race' AND operation_id <> 'extra'" >/dev/null
	wait_for 120 "SELECT count(*) = 0 FROM taskmill.task_schedules WHERE queue_name = 'race' AND next_run_at <= now()"
done
touch "$stop"
failed=0
for p in "${pids[@]}"; do wait "$p" || failed=1; done
for p in "${watchers[@]}"; do
	kill -0 "$p" 2>/dev/null || { echo "a scheduler session ended early"; failed=1; }
	kill -INT "$p" 2>/dev/null || true
	wait "$p" || true
done
cat "$work"/*.err >&2
[ "$failed" = 0 ] || { echo "a scheduler or registrar session failed"; exit 1; }
if grep -hvE 'canceling statement due to user request|^Cancel request sent$' "$work"/*.err | grep -q .; then
	echo "sessions reported errors"
	exit 1
fi

calls=$(cat "$work"/scheduler*.out | wc -l)
enqueued=$(cat "$work"/scheduler*.out | awk '{s += $1} END {print s + 0}')
registers=$(cat "$work"/register*.out | wc -l)
echo "5 schedulers made $calls run_due_schedules calls, 2 registrars $registers register_schedules calls"
result=$(psql -XAtq -c "SELECT count(*) || ' ' || count(DISTINCT idempotency_key) || ' ' ||
	(SELECT count(*) FROM race_ticks rt CROSS JOIN generate_series(1, $nsched) g
	 WHERE (SELECT count(*) FROM taskmill.tasks t WHERE t.queue_name = 'race' AND t.idempotency_key =
	        'taskmill-schedule:op' || g || '@' || to_char(rt.tick AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')) = 1)
	FROM taskmill.tasks WHERE queue_name = 'race'")
read -r tasks keys exact <<<"$result"
echo "tasks: $tasks (distinct tick keys: $keys), reported enqueued: $enqueued;" \
	"round ticks enqueued exactly once: $exact of $((nsched * rounds));" \
	"the schedules' own minutely ticks that came during the run: $((tasks - nsched * rounds))"
if [ "$keys" != "$tasks" ] || [ "$enqueued" != "$tasks" ] || [ "$exact" != $((nsched * rounds)) ]; then
	echo "FAIL TestRace_MultipleSchedulers: every tick of every schedule must be enqueued exactly once"
	exit 1
fi
echo "ok TestRace_MultipleSchedulers: $rounds ticks x $nsched schedules, each enqueued exactly once"
n=$(psql -XAtq -c "SELECT count(*) FROM taskmill.task_schedules WHERE queue_name = 'race' AND operation_id <> 'extra'")
[ "$n" = "$nsched" ] || { echo "FAIL TestRace_SchedulerDuringRegister: $n schedules left"; exit 1; }
echo "ok TestRace_SchedulerDuringRegister: $registers registrations during the runs, no error, all $nsched schedules intact"
echo "# All cron tests passed"
