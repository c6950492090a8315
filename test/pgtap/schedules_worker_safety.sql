-- run_due_schedules as the superuser scheduler worker runs it (issue 10, findings 1, 3 and 4):
--  - no function or operator a user created is picked by name, whatever search_path says;
--  - each schedule's task is enqueued with its owner's rights, never the runner's;
--  - one schedule's row (a saturated failure count, a lock held on its tick's key) never
--    stops the others; a held tick key is not waited for.
-- Everything but the lock holder's session rolls back with this file's transaction.
BEGIN;
\ir helpers.psql
SELECT plan(17);

CREATE FUNCTION tm_test.schedule(queue text, op text) RETURNS taskmill.task_schedules LANGUAGE sql AS $$
	SELECT * FROM taskmill.task_schedules WHERE queue_name = queue AND operation_id = op
$$;

-- 1. The search_path attack ------------------------------------------------------------
-- Operators a database owner could create in a schema of the database's search_path; each
-- call is recorded (in the attack, the function ran ALTER ROLE ... SUPERUSER).
CREATE TABLE tm_test.evil_calls (op text);
CREATE SCHEMA tm_evil;
CREATE FUNCTION tm_evil.le(a timestamptz, b timestamptz) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO tm_test.evil_calls VALUES ('<=');
	RETURN a OPERATOR(pg_catalog.<=) b;
END $$;
CREATE OPERATOR tm_evil.<= (LEFTARG = timestamptz, RIGHTARG = timestamptz, FUNCTION = tm_evil.le);
CREATE FUNCTION tm_evil.eq8(a bigint, b bigint) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO tm_test.evil_calls VALUES ('=');
	RETURN a OPERATOR(pg_catalog.=) b;
END $$;
CREATE OPERATOR tm_evil.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = tm_evil.eq8);
CREATE FUNCTION tm_evil.now() RETURNS timestamptz LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO tm_test.evil_calls VALUES ('now');
	RETURN pg_catalog.now();
END $$;

SELECT taskmill.register_schedules('safety', '[{"operation_id": "tick", "cron": "@daily"}]');
SELECT tm_test.make_due('safety', 'tick');
SET LOCAL search_path = tm_evil, pg_catalog, public;
SELECT ok(now() <= now() AND 1::bigint = 1::bigint, 'the trap works: unqualified operators find tm_evil''s');
DELETE FROM tm_test.evil_calls;
SELECT is(taskmill.run_due_schedules(), 1, 'RunDue_SearchPathAttack: the due schedule is enqueued');
RESET search_path;
SELECT is((SELECT count(*)::int FROM tm_test.evil_calls), 0,
	'RunDue_SearchPathAttack: no function or operator of the caller''s search_path ran');
SELECT is(current_setting('search_path'), '"$user", public',
	'RunDue_SearchPathAttack: the pinned search_path ends with the run');

-- 2. A lock held on the next tick's key ------------------------------------------------
-- Another session inserts the tick's task (same key) and does not commit: the scheduler
-- does not wait for it (the key is probed first), leaves the tick due for its next run,
-- and the other schedule still runs.
SELECT taskmill.register_schedules('safety-lock', $$[
	{"operation_id": "held", "cron": "@daily"}, {"operation_id": "free", "cron": "@daily"}]$$);
SELECT tm_test.make_due('safety-lock', 'held') AS held_tick \gset
SELECT tm_test.make_due('safety-lock', 'free');
SELECT dblink_connect('holder', format('host=127.0.0.1 port=%s user=postgres dbname=%s options=''-c statement_timeout=60s''',
	current_setting('port'), current_database()));
SELECT dblink_exec('holder', 'BEGIN');
SELECT dblink_exec('holder', format('INSERT INTO taskmill.tasks (queue_name, operation_id, idempotency_key) VALUES (%L, %L, %L)',
	'safety-lock', 'held', tm_test.tick_key('held', :'held_tick')));
SET LOCAL taskmill.scheduler_lock_timeout = '200ms';
SELECT is(taskmill.run_due_schedules(), 1, 'RunDue_TickKeyLocked: the other schedule runs');
SELECT results_eq(format($$SELECT last_status, next_run_at = %L::timestamptz FROM taskmill.task_schedules
	WHERE queue_name = 'safety-lock' AND operation_id = 'held'$$, :'held_tick'),
	$$VALUES (NULL::text, true)$$,
	'RunDue_TickKeyLocked: the held tick is left due for the next run, not failed');
SELECT dblink_exec('holder', 'ROLLBACK');
SELECT dblink_disconnect('holder');
SELECT is((SELECT count(*)::int FROM taskmill.tasks WHERE queue_name = 'safety-lock' AND operation_id = 'free'), 1,
	'RunDue_TickKeyLocked: the free schedule''s task is there');
SELECT is(taskmill.run_due_schedules(), 1, 'RunDue_TickKeyLocked: once the holder rolled back, the next run enqueues the held tick');

-- 3. The owner's rights ----------------------------------------------------------------
-- Role tm_sched_a manages queues safety-a and safety-b but may produce to safety-a only
-- (queue rights, docs/security.md); it registers one schedule in each. The superuser runs
-- them: only the first goes in.
CREATE ROLE tm_sched_a;
SELECT taskmill.grant('tm_sched_a', 'safety-a', ARRAY['manage', 'produce']);
SELECT taskmill.grant('tm_sched_a', 'safety-b', ARRAY['manage']);
SET LOCAL ROLE tm_sched_a;
SELECT taskmill.register_schedules('safety-a', '[{"operation_id": "mine", "cron": "@daily"}]');
SELECT taskmill.register_schedules('safety-b', '[{"operation_id": "theirs", "cron": "@daily"}]');
RESET ROLE;
SELECT is((SELECT array_agg(DISTINCT owner) FROM taskmill.task_schedules WHERE queue_name IN ('safety-a', 'safety-b')),
	ARRAY['tm_sched_a'], 'RunDue_OwnerRights: register_schedules records the registering role as owner');
SELECT tm_test.make_due('safety-a', 'mine'), tm_test.make_due('safety-b', 'theirs');
SELECT is(taskmill.run_due_schedules(), 1, 'RunDue_OwnerRights: run by a superuser, one of the two goes in');
SELECT is((SELECT count(*)::int FROM taskmill.tasks WHERE queue_name = 'safety-a' AND operation_id = 'mine'), 1,
	'RunDue_OwnerRights: the schedule in the owner''s own queue is enqueued');
SELECT is((SELECT count(*)::int FROM taskmill.tasks WHERE queue_name = 'safety-b'), 0,
	'RunDue_OwnerRights: nothing goes into a queue the owner may not write');
SELECT matches((tm_test.schedule('safety-b', 'theirs')).last_error, 'permission denied for queue "safety-b": produce right required',
	'RunDue_OwnerRights: the schedule failed with the owner''s permission error');

-- A schedule whose owner role is gone fails alone.
UPDATE taskmill.task_schedules SET owner = 'tm_no_such_role' WHERE queue_name = 'safety-a';
SELECT tm_test.make_due('safety-a', 'mine');
SELECT is(taskmill.run_due_schedules(), 0, 'RunDue_OwnerGone: nothing is enqueued for a schedule whose owner does not exist');
SELECT matches((tm_test.schedule('safety-a', 'mine')).last_error, 'tm_no_such_role',
	'RunDue_OwnerGone: the error names the missing role');

-- 4. A failure count at INT_MAX --------------------------------------------------------
SELECT taskmill.register_schedules('safety-max', $$[
	{"operation_id": "broken", "cron": "@daily"}, {"operation_id": "fine", "cron": "@daily"}]$$);
UPDATE taskmill.task_schedules SET consecutive_failures = 2147483647, cron = 'not a cron'
WHERE queue_name = 'safety-max' AND operation_id = 'broken';
SELECT tm_test.make_due('safety-max', 'broken'), tm_test.make_due('safety-max', 'fine');
SELECT is(taskmill.run_due_schedules(), 1, 'RunDue_FailuresSaturate: the other schedule runs');
SELECT results_eq($$SELECT last_status, consecutive_failures, next_run_at > now() FROM taskmill.task_schedules
	WHERE queue_name = 'safety-max' AND operation_id = 'broken'$$,
	$$VALUES ('failed', 2147483647, true)$$,
	'RunDue_FailuresSaturate: the count stays at INT_MAX and a retry is set');

SELECT * FROM finish();
ROLLBACK;
