#!/usr/bin/env bash
# Scheduler fairness: one tenant's schedules can neither stop nor delay another's
# (docs/schedules.md, docs/security.md "Scheduler"). In a cluster whose scheduler
# background worker runs every second (taskmill.scheduler_interval = 1):
#  - tenant A (role fair_a: manage and produce on queue fair-a) registers 1,000 schedules
#    firing every minute, and holds the keys of their coming ticks in an idle open
#    transaction: the keys a 0.2 scheduler gave them ("schedule:<op>@<tick>", an
#    ordinary key then) with enqueue, and it tries the keys of this version's namespace
#    ("taskmill-schedule:...", refused). Another idle open transaction (a superuser's
#    direct INSERT: any holder whatever) holds the keys in this version's namespace;
#  - tenant B (fair_b, queue fair-b) has 10 schedules firing every minute.
# For TASKMILL_FAIRNESS_MINUTES minutes (default 5; fewer for a quick look, e.g.
# TASKMILL_FAIRNESS_MINUTES=2 scripts/test.sh scheduler_fairness), every tick of
# every B schedule is enqueued, each within one scheduler interval (plus
# TASKMILL_FAIRNESS_SLACK_S, default 2 s, for a loaded machine) of its time; no A
# schedule fails or waits (none is recorded as failed: a wait would end in a lock
# timeout). Once the holders end, every A schedule runs. Waits are wait-for-condition
# loops; the run takes about the minutes asked for, plus one.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$TOP"

minutes=${TASKMILL_FAIRNESS_MINUTES:-5}
slack=${TASKMILL_FAIRNESS_SLACK_S:-2}
interval=1
na=1000
nb=10

start_cluster -c shared_preload_libraries=taskmill -c taskmill.scheduler_databases=fair \
	-c taskmill.scheduler_interval=$interval
background_work scheduler_fairness
new_db fair
q fair "CREATE ROLE fair_a LOGIN; CREATE ROLE fair_b LOGIN;
	SELECT taskmill.grant('fair_a', 'fair-a', ARRAY['manage', 'produce']);
	SELECT taskmill.grant('fair_b', 'fair-b', ARRAY['manage', 'produce'])" >/dev/null
wait_true 60 postgres "SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'taskmill scheduler' AND datname = 'fair'"

psql -XAtq -U fair_a -d fair -v ON_ERROR_STOP=1 -c "SELECT taskmill.register_schedules('fair-a',
	(SELECT jsonb_agg(jsonb_build_object('operation_id', 'a' || g, 'cron', '* * * * *')) FROM generate_series(1, $na) g))" >/dev/null
psql -XAtq -U fair_b -d fair -v ON_ERROR_STOP=1 -c "SELECT taskmill.register_schedules('fair-b',
	(SELECT jsonb_agg(jsonb_build_object('operation_id', 'b' || g, 'cron', '* * * * *')) FROM generate_series(1, $nb) g))" >/dev/null
echo "ok $na schedules of tenant A, $nb of tenant B, every minute"

# The ticks held: from the current minute to $minutes + 2 minutes on.
ticks="SELECT date_trunc('minute', now()) + m * interval '1 minute' AS tick FROM generate_series(0, $minutes + 2) m"
key_sql() { # prefix, op expression, tick expression
	echo "'$1' || $2 || '@' || to_char(($3) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
}

# Holders: psql sessions fed through a fifo, left idle in their transactions.
mkfifo "$work/holder_a" "$work/holder_su"
psql -XAtq -U fair_a -d fair -v ON_ERROR_STOP=1 <"$work/holder_a" >"$work/holder_a.out" 2>&1 &
pids+=($!)
psql -XAtq -d fair -v ON_ERROR_STOP=1 <"$work/holder_su" >"$work/holder_su.out" 2>&1 &
pids+=($!)
exec 7>"$work/holder_a" 8>"$work/holder_su"
cat >&7 <<SQL
SET application_name = 'fair holder a';
BEGIN;
SELECT count(taskmill.enqueue('fair-a', 'a' || g, idempotency_key => $(key_sql schedule: "'a' || g" t.tick),
	scheduled_at => now() + interval '9 years', notify => false))
FROM generate_series(1, $na) g, ($ticks) t;
DO \$\$
DECLARE refused int := 0;
BEGIN
	FOR g IN 1..$na LOOP
		BEGIN
			PERFORM taskmill.enqueue('fair-a', 'a' || g, idempotency_key => $(key_sql taskmill-schedule: "'a' || g" "date_trunc('minute', now()) + interval '1 day'"),
				scheduled_at => now() + interval '9 years', notify => false);
		EXCEPTION WHEN invalid_parameter_value THEN
			refused := refused + 1;
		END;
	END LOOP;
	RAISE NOTICE 'refused %', refused;
END \$\$;
SQL
cat >&8 <<SQL
SET application_name = 'fair holder su';
BEGIN;
INSERT INTO taskmill.tasks (queue_name, operation_id, idempotency_key, scheduled_at, visible_at, waiting)
SELECT 'fair-a', 'a' || g, $(key_sql taskmill-schedule: "'a' || g" t.tick), 'infinity', 'infinity', true
FROM generate_series(1, $na) g, ($ticks) t;
SQL
wait_true 300 fair "SELECT count(*) = 2 FROM pg_stat_activity WHERE application_name IN ('fair holder a', 'fair holder su') AND state = 'idle in transaction'"
grep -q 'refused' "$work/holder_a.out" && echo "# tenant A's enqueues of reserved tick keys: $(grep -o 'refused [0-9]*' "$work/holder_a.out") of $na"
echo "ok the coming tick keys of A's $na schedules are held by two idle transactions"

t0=$(q fair "SELECT date_trunc('minute', now()) + interval '1 minute'")
tick_of="substring(idempotency_key from '@(.*)\$')::timestamptz"
for ((k = 0; k < minutes; k++)); do
	tick=$(q fair "SELECT '$t0'::timestamptz + $k * interval '1 minute'")
	wait_true 150 fair "SELECT count(DISTINCT operation_id) = $nb FROM taskmill.tasks WHERE queue_name = 'fair-b' AND $tick_of = '$tick'"
	late=$(q fair "SELECT extract(epoch FROM max(created_at - $tick_of))::numeric(8, 3) FROM taskmill.tasks WHERE queue_name = 'fair-b' AND $tick_of = '$tick'")
	if ! q fair "SELECT $late <= $interval + $slack" | grep -qx t; then
		echo "FAIL SchedulerFairness_HeldKeys: B's tick $tick ran ${late}s late (bound ${interval}s + ${slack}s)"
		exit 1
	fi
	failed=$(q fair "SELECT count(*) FROM taskmill.task_schedules WHERE queue_name = 'fair-a' AND (last_status = 'failed' OR consecutive_failures > 0)")
	[ "$failed" = 0 ] || { echo "FAIL SchedulerFairness_HeldKeys: $failed of A's schedules failed (a wait on a held key)"; exit 1; }
	echo "ok SchedulerFairness_HeldKeys: minute $((k + 1)) of $minutes: all $nb ticks of B at $tick enqueued, the last ${late}s after the tick; none of A's $na schedules failed"
done

exec 7>&- 8>&-
wait_true 60 fair "SELECT count(*) = 0 FROM pg_stat_activity WHERE application_name IN ('fair holder a', 'fair holder su')"
wait_true 150 fair "SELECT count(*) = $na FROM taskmill.task_schedules WHERE queue_name = 'fair-a' AND last_status = 'enqueued'"
echo "ok SchedulerFairness_HeldKeys: once the holders ended, every one of A's $na schedules ran"
echo "# All scheduler fairness tests passed"
