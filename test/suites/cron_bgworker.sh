#!/usr/bin/env bash
# The scheduler background worker, in a cluster started with
#   shared_preload_libraries = taskmill, taskmill.scheduler_databases = 'bgw_a,bgw_plain'
# Checks, each with a wait-for-condition loop (no fixed sleeps):
#  - one worker per listed database; a database without the extension is skipped quietly
#    and picked up once CREATE EXTENSION runs there;
#  - a due schedule is enqueued by the server itself (TestScheduler_ProcessDueSchedule,
#    TestScheduler_CheckInterval);
#  - after pg_terminate_backend the postmaster starts the worker again, which goes on;
#  - after a crash (SIGKILL of the worker: the postmaster resets every backend) it comes
#    back with the server and goes on;
#  - the database owner's operator on the database's search_path is never used by the
#    worker (it runs as superuser; issue 10 finding 1);
#  - each due schedule runs in a transaction of its own with its own budget
#    (taskmill.scheduler_statement_timeout): one that runs over is recorded as failed alone;
#  - SIGHUP reloads taskmill.scheduler_interval; the server stops cleanly (pg_ctl -m fast).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$TOP"

start_cluster -c shared_preload_libraries=taskmill -c taskmill.scheduler_databases=bgw_a,bgw_plain \
	-c taskmill.scheduler_interval=1
log=$TASKMILL_PGDATA/server.log
pgdata=$TASKMILL_PGDATA/data
new_db bgw_a
psql -XAtq -d postgres -v ON_ERROR_STOP=1 -c "CREATE DATABASE bgw_plain"

worker_pid() {
	psql -XAtq -d postgres -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'taskmill scheduler' AND datname = '$1'" 2>/dev/null
}
# Make the schedule due now and wait until the server has enqueued one more task for it.
expect_tick() {
	local db=$1 before
	before=$(q "$db" "SELECT count(*) FROM taskmill.tasks WHERE operation_id = 'tick'")
	q "$db" "UPDATE taskmill.task_schedules SET next_run_at = now() WHERE operation_id = 'tick'" >/dev/null
	wait_true 60 "$db" "SELECT count(*) >= $before + 1 FROM taskmill.tasks WHERE operation_id = 'tick'"
}

wait_true 60 postgres "SELECT count(*) = 2 FROM pg_stat_activity WHERE backend_type = 'taskmill scheduler' AND datname IN ('bgw_a', 'bgw_plain')"
echo "ok workers: one per listed database (bgw_a, bgw_plain)"

q bgw_a "SELECT taskmill.register_schedules('bgw', '[{\"operation_id\": \"tick\", \"cron\": \"0 0 1 1 *\", \"payload\": {\"from\": \"bgworker\"}}]')" >/dev/null
expect_tick bgw_a
q bgw_a "SELECT last_status = 'enqueued' AND next_run_at > now() FROM taskmill.task_schedules WHERE operation_id = 'tick'" | grep -qx t
echo "ok TestScheduler_ProcessDueSchedule: the server enqueued the due schedule and advanced it"

q bgw_a "UPDATE taskmill.task_schedules SET next_run_at = now() + interval '2 seconds' WHERE operation_id = 'tick'" >/dev/null
wait_true 60 bgw_a "SELECT count(*) >= 2 FROM taskmill.tasks WHERE operation_id = 'tick'"
echo "ok TestScheduler_CheckInterval: a schedule due in 2 s was enqueued by the 1 s loop"

# Issue 10 finding 1: the owner of a database plants an operator in a schema of the
# database's search_path; a scheduler that used it would run the owner's function as
# superuser. The worker pins search_path to pg_catalog, pg_temp and qualifies its operators.
q postgres "CREATE ROLE bgw_owner LOGIN" >/dev/null
q postgres "ALTER DATABASE bgw_a OWNER TO bgw_owner" >/dev/null
psql -XAtq -U bgw_owner -d bgw_a -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
CREATE SCHEMA evil;
CREATE FUNCTION evil.le(a timestamptz, b timestamptz) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE 'ALTER ROLE bgw_owner SUPERUSER';
	RETURN a OPERATOR(pg_catalog.<=) b;
END $$;
CREATE OPERATOR evil.<= (LEFTARG = timestamptz, RIGHTARG = timestamptz, FUNCTION = evil.le);
ALTER DATABASE bgw_a SET search_path = evil, pg_catalog;
SQL
old=$(worker_pid bgw_a)
q postgres "SELECT pg_terminate_backend($old)" | grep -qx t
wait_true 60 postgres "SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'taskmill scheduler' AND datname = 'bgw_a' AND pid <> $old"
expect_tick bgw_a
q postgres "SELECT NOT rolsuper FROM pg_roles WHERE rolname = 'bgw_owner'" | grep -qx t
echo "ok SchedulerWorker_SearchPathAttack: the worker ran with the owner's operator on the search_path and the owner is not superuser"
q bgw_a "ALTER DATABASE bgw_a RESET search_path" >/dev/null
q bgw_a "SET client_min_messages = warning; DROP SCHEMA evil CASCADE" >/dev/null

old=$(worker_pid bgw_a)
q postgres "SELECT pg_terminate_backend($old)" | grep -qx t
wait_true 60 postgres "SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'taskmill scheduler' AND datname = 'bgw_a' AND pid <> $old"
expect_tick bgw_a
echo "ok restart: terminated worker $old came back as $(worker_pid bgw_a) and goes on"

old=$(worker_pid bgw_a)
kill -9 "$old"
wait_true 120 postgres "SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'taskmill scheduler' AND datname = 'bgw_a' AND pid <> $old"
expect_tick bgw_a
echo "ok crash: after SIGKILL of worker $old the server reset and the worker ($(worker_pid bgw_a)) goes on"

q bgw_plain "CREATE EXTENSION taskmill"
q bgw_plain "SELECT taskmill.register_schedules('plain', '[{\"operation_id\": \"tick\", \"cron\": \"0 0 1 1 *\"}]')" >/dev/null
expect_tick bgw_plain
echo "ok a database without the extension was skipped quietly, then served once it was created"

# Each due schedule runs in a transaction of its own with a budget of its own
# (taskmill.scheduler_statement_timeout): one that runs over is rolled back alone, recorded
# as failed and retried after a backoff, and the worker goes on. The ticks are made to
# wait: another session holds taskmill.tasks in ACCESS EXCLUSIVE mode, and
# scheduler_lock_timeout = 0 leaves the wait to the budget.
q postgres "ALTER SYSTEM SET taskmill.scheduler_lock_timeout = 0" >/dev/null
q postgres "ALTER SYSTEM SET taskmill.scheduler_statement_timeout = '300ms'" >/dev/null
q postgres "SELECT pg_reload_conf()" >/dev/null
wait_true 30 postgres "SELECT setting = '300' FROM pg_settings WHERE name = 'taskmill.scheduler_statement_timeout'"
q bgw_a "SELECT taskmill.register_schedules('budget', '[{\"operation_id\": \"slow1\", \"cron\": \"0 0 1 1 *\"}, {\"operation_id\": \"slow2\", \"cron\": \"0 0 1 1 *\"}]')" >/dev/null
coproc HOLDER { psql -XAtq -d bgw_a -v ON_ERROR_STOP=1; }
echo "SET application_name = 'budget holder'; BEGIN; LOCK TABLE taskmill.tasks IN ACCESS EXCLUSIVE MODE;" >&"${HOLDER[1]}"
wait_true 30 bgw_a "SELECT count(*) = 1 FROM pg_stat_activity WHERE application_name = 'budget holder' AND state = 'idle in transaction'"
q bgw_a "UPDATE taskmill.task_schedules SET next_run_at = now() WHERE queue_name = 'budget'" >/dev/null
wait_true 60 bgw_a "SELECT count(*) = 2 FROM taskmill.task_schedules WHERE queue_name = 'budget' AND last_status = 'failed'
	AND last_error LIKE 'canceling statement due to statement timeout%' AND consecutive_failures >= 1 AND next_run_at > last_run_at"
echo "ok SchedulerWorker_ScheduleBudget: each schedule that ran over its budget was rolled back and recorded as failed on its own, with a retry time"
echo "ROLLBACK;" >&"${HOLDER[1]}"
exec {HOLDER[1]}>&-
wait "$HOLDER_PID" || true
q postgres "ALTER SYSTEM RESET taskmill.scheduler_lock_timeout" >/dev/null
q postgres "ALTER SYSTEM RESET taskmill.scheduler_statement_timeout" >/dev/null
q postgres "SELECT pg_reload_conf()" >/dev/null
wait_true 60 bgw_a "SELECT count(*) = 2 FROM taskmill.task_schedules WHERE queue_name = 'budget' AND last_status = 'enqueued'"
echo "ok SchedulerWorker_ScheduleBudget: once the lock was gone, both ran at their retry"

q postgres "ALTER SYSTEM SET taskmill.scheduler_interval = '2s'" >/dev/null
q postgres "SELECT pg_reload_conf()" >/dev/null
wait_true 30 postgres "SELECT setting = '2' FROM pg_settings WHERE name = 'taskmill.scheduler_interval'"
expect_tick bgw_a
echo "ok SIGHUP: interval reloaded to 2 s, worker goes on"

# The only errors in the log are the ones this test caused (workers started before their
# databases existed, the terminate, the crash and the recovery after it, the budget runs).
if grep -E 'ERROR|PANIC|FATAL' "$log" | grep -vE 'canceling statement due to statement timeout|database "bgw_(a|plain)" does not exist|terminating background worker "taskmill scheduler" due to administrator command|terminating connection because of crash of another server process|the database system is (in recovery mode|not yet accepting connections|starting up)' | grep -q .; then
	echo "FAIL: unexpected errors in the server log:"
	grep -E 'ERROR|PANIC|FATAL' "$log"
	exit 1
fi
echo "ok no unexpected ERROR or FATAL in the server log"

as_pg=(runuser -u postgres --)
[ "$(id -u)" = 0 ] || as_pg=()
"${as_pg[@]}" "${PGBIN:-$(pg_config --bindir)}/pg_ctl" -D "$pgdata" -m fast -w -t 60 stop >/dev/null
grep -q 'database system is shut down' "$log"
echo "ok the server stopped cleanly with its workers"
echo "# All bgworker tests passed"
