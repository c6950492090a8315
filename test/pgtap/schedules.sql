-- Seed 3 (scheduler) and 4.3 (console schedule operations) at SQL level: register_schedules,
-- cron patterns, run_due_schedules, list_schedules and trigger_schedule. Time travels by
-- moving next_run_at, never by sleeping; now() is fixed for the whole transaction.
BEGIN;
\ir helpers.psql
SELECT plan(47);

-- An independent oracle for small tests: the first minute after t (UTC) that a predicate on
-- the minute's fields accepts, found by walking minute by minute.
CREATE FUNCTION tm_test.first_minute(t timestamptz, days int, pred text) RETURNS timestamptz
LANGUAGE plpgsql AS $$
DECLARE
	m timestamptz;
	ok boolean;
BEGIN
	FOR m IN SELECT g FROM generate_series(date_trunc('minute', t) + interval '1 minute',
	                                      t + make_interval(days => days), interval '1 minute') g LOOP
		EXECUTE format('SELECT %s FROM (SELECT extract(minute FROM $1 AT TIME ZONE ''UTC'')::int AS mi,
		                extract(hour FROM $1 AT TIME ZONE ''UTC'')::int AS h,
		                extract(isodow FROM $1 AT TIME ZONE ''UTC'')::int AS dow) f', pred)
			INTO ok USING m;
		IF ok THEN RETURN m; END IF;
	END LOOP;
	RETURN NULL;
END $$;

-- 3.1 Schedule registration ---------------------------------------------------------------

SELECT is(taskmill.register_schedules('reg', $$[
	{"operation_id": "report", "cron": "0 3 * * *"},
	{"operation_id": "cleanup", "cron": "*/5 * * * *", "payload": {"days": 7}}]$$), 2,
	'TestScheduler_RegisterSchedules_Success: returns how many were registered');
SELECT results_eq($$SELECT operation_id, cron, payload FROM taskmill.task_schedules WHERE queue_name = 'reg' ORDER BY operation_id$$,
	$$VALUES ('cleanup', '*/5 * * * *', '{"days": 7}'::jsonb), ('report', '0 3 * * *', NULL::jsonb)$$,
	'TestScheduler_RegisterSchedules_Success: both in task_schedules');
SELECT ok((SELECT bool_and(next_run_at > now()) FROM taskmill.task_schedules WHERE queue_name = 'reg'),
	'TestScheduler_RegisterSchedules_Success: each has a next run in the future');

SELECT taskmill.register_schedules('reg', $$[
	{"operation_id": "report", "cron": "30 4 * * *", "timezone": "Europe/London"},
	{"operation_id": "cleanup", "cron": "*/5 * * * *", "payload": {"days": 7}}]$$);
SELECT results_eq($$SELECT cron, timezone, next_run_at FROM taskmill.task_schedules WHERE queue_name = 'reg' AND operation_id = 'report'$$,
	$$SELECT '30 4 * * *', 'Europe/London', taskmill.cron_next('30 4 * * *', now(), 'Europe/London')$$,
	'TestScheduler_RegisterSchedules_Update: cron and zone updated, next run recomputed');
SELECT is((SELECT count(*)::int FROM taskmill.task_schedules WHERE queue_name = 'reg'), 2,
	'TestScheduler_RegisterSchedules_Update: updated in place, not added');

-- Re-registering an unchanged schedule keeps a due tick that has not run yet.
SELECT tm_test.make_due('reg', 'cleanup');
SELECT taskmill.register_schedules('reg', $$[
	{"operation_id": "report", "cron": "30 4 * * *", "timezone": "Europe/London"},
	{"operation_id": "cleanup", "cron": "*/5 * * * *", "payload": {"days": 7}}]$$);
SELECT ok((SELECT next_run_at < now() FROM taskmill.task_schedules WHERE queue_name = 'reg' AND operation_id = 'cleanup'),
	'TestScheduler_RegisterSchedules_Update: an unchanged schedule keeps its pending tick');

SELECT taskmill.register_schedules('reg', '[{"operation_id": "report", "cron": "30 4 * * *", "timezone": "Europe/London"}]');
SELECT results_eq($$SELECT operation_id FROM taskmill.task_schedules WHERE queue_name = 'reg'$$, ARRAY['report'],
	'TestScheduler_RegisterSchedules_Cleanup: the schedule left out is deleted');

SELECT taskmill.register_schedules('other-queue', '[{"operation_id": "report", "cron": "@daily"}]');
SELECT taskmill.register_schedules('reg', '[]');
SELECT is((SELECT count(*)::int FROM taskmill.task_schedules WHERE operation_id = 'report'), 1,
	'TestScheduler_RegisterSchedules_Cleanup: only the registered queue''s schedules are touched');

SELECT taskmill.register_schedules('opts', $$[{"operation_id": "digest", "cron": "@hourly", "payload": {"kind": "digest"},
	"options": {"priority": 7, "max_attempts": 9, "task_group_id": "g", "expires_in": "2 hours",
	            "ephemeral": true, "meta": {"traceparent": "00-abc-def-01"}}}]$$);
SELECT tm_test.make_due('opts', 'digest');
SELECT is(taskmill.run_due_schedules(), 1, 'TestScheduler_RegisterSchedules_WithOptions: the due schedule is enqueued');
SELECT results_eq($$SELECT payload, priority, max_attempts, task_group_id, expires_at - now(), ephemeral, meta->>'traceparent'
	FROM taskmill.tasks WHERE queue_name = 'opts'$$,
	$$VALUES ('{"kind": "digest"}'::jsonb, 7, 9, 'g', interval '2 hours', true, '00-abc-def-01')$$,
	'TestScheduler_RegisterSchedules_WithOptions: options used when the task is enqueued');

-- 3.2 Cron pattern validation -------------------------------------------------------------

SELECT taskmill.register_schedules('patterns', '[{"operation_id": "every-minute", "cron": "* * * * *"}]');
SELECT is((SELECT next_run_at FROM taskmill.task_schedules WHERE queue_name = 'patterns'),
	date_trunc('minute', now()) + interval '1 minute',
	'TestScheduler_CronPattern_EveryMinute: valid, next run is the next minute');

SELECT taskmill.register_schedules('patterns', '[{"operation_id": "complex", "cron": "*/15 9-17 * * 1-5"}]');
SELECT is((SELECT next_run_at FROM taskmill.task_schedules WHERE queue_name = 'patterns'),
	tm_test.first_minute(now(), 4, 'mi % 15 = 0 AND h BETWEEN 9 AND 17 AND dow BETWEEN 1 AND 5'),
	'TestScheduler_CronPattern_Complex: valid, next run is the first quarter hour 9-17 on a weekday');
SELECT is(taskmill.cron_next('*/15 9-17 * * 1-5', '2026-11-27 17:46+00'), '2026-11-30 09:00+00'::timestamptz,
	'TestScheduler_CronPattern_Complex: Friday after 17:45 moves to Monday 09:00');

SELECT throws_ok($$SELECT taskmill.register_schedules('patterns', '[{"operation_id": "bad", "cron": "60 * * * *"}]')$$,
	'22023', 'invalid cron expression "60 * * * *"', 'TestScheduler_CronPattern_Invalid: validation error');
SELECT throws_ok($$SELECT taskmill.cron_validate('60 * * * *')$$, '22023', 'invalid cron expression "60 * * * *"',
	'TestScheduler_CronPattern_Invalid: cron_validate raises the same error');
SELECT throws_ok($$SELECT taskmill.register_schedules('patterns', '[{"operation_id": "bad", "cron": "* * *"}]')$$,
	'22023', 'invalid cron expression "* * *"', 'TestScheduler_CronPattern_WrongFields: validation error');
SELECT results_eq($$SELECT operation_id FROM taskmill.task_schedules WHERE queue_name = 'patterns'$$, ARRAY['complex'],
	'TestScheduler_CronPattern_Invalid: a rejected registration changes nothing');
SELECT throws_ok($$SELECT taskmill.register_schedules('patterns', '[{"operation_id": "ok", "cron": "@daily"}, {"operation_id": "bad", "cron": "* * * * 8"}]')$$,
	'22023', NULL, 'register_schedules is all or nothing: one bad entry rejects the list');
SELECT results_eq($$SELECT operation_id FROM taskmill.task_schedules WHERE queue_name = 'patterns'$$, ARRAY['complex'],
	'register_schedules is all or nothing: the good entry was not stored either');

-- 3.3 Schedule execution -------------------------------------------------------------------

SELECT taskmill.register_schedules('exec', '[{"operation_id": "due", "cron": "*/10 * * * *", "payload": {"n": 1}}]');
SELECT tm_test.make_due('exec', 'due');
SELECT is(taskmill.run_due_schedules(), 1, 'TestScheduler_ProcessDueSchedule: one task enqueued');
SELECT results_eq($$SELECT operation_id, payload, priority FROM taskmill.tasks WHERE queue_name = 'exec'$$,
	$$VALUES ('due', '{"n": 1}'::jsonb, 0)$$, 'TestScheduler_ProcessDueSchedule: the task carries the schedule''s payload');
SELECT results_eq($$SELECT next_run_at, last_run_at, last_status, consecutive_failures, last_task_id
	FROM taskmill.task_schedules WHERE queue_name = 'exec'$$,
	$$SELECT taskmill.cron_next('*/10 * * * *', now()), now(), 'enqueued', 0, (SELECT id FROM taskmill.tasks WHERE queue_name = 'exec')$$,
	'TestScheduler_ProcessDueSchedule: next_run updated, last run recorded');
SELECT is(taskmill.run_due_schedules(), 0, 'TestScheduler_ProcessDueSchedule: a second run enqueues nothing more');

SELECT taskmill.register_schedules('exec-opts', '[{"operation_id": "urgent", "cron": "@hourly", "options": {"priority": 10}}]');
SELECT tm_test.make_due('exec-opts', 'urgent');
SELECT taskmill.run_due_schedules();
SELECT is((SELECT priority FROM taskmill.tasks WHERE queue_name = 'exec-opts'), 10,
	'TestScheduler_ProcessDueSchedule_WithOptions: enqueued task has priority 10');

SELECT taskmill.register_schedules('exec-later', '[{"operation_id": "later", "cron": "* * * * *"}]');
UPDATE taskmill.task_schedules SET next_run_at = now() + interval '1 hour' WHERE queue_name = 'exec-later';
SELECT is(taskmill.run_due_schedules(), 0, 'TestScheduler_SkipNotDueSchedule: nothing is due');
SELECT is((SELECT count(*)::int FROM taskmill.tasks WHERE queue_name = 'exec-later'), 0,
	'TestScheduler_SkipNotDueSchedule: no task enqueued');

SELECT taskmill.register_schedules('exec-many', '[{"operation_id": "a", "cron": "@hourly"}, {"operation_id": "b", "cron": "@daily"}, {"operation_id": "c", "cron": "*/5 * * * *"}]');
SELECT tm_test.make_due('exec-many', op) FROM unnest(ARRAY['a', 'b', 'c']) op;
SELECT is(taskmill.run_due_schedules(), 3, 'TestScheduler_ProcessMultipleDue: all 3 enqueued');
SELECT results_eq($$SELECT operation_id FROM taskmill.tasks WHERE queue_name = 'exec-many' ORDER BY operation_id$$,
	ARRAY['a', 'b', 'c'], 'TestScheduler_ProcessMultipleDue: one task per schedule');

-- Idempotency: the tick's task is already there (another scheduler, or a retry).
SELECT taskmill.register_schedules('exec-idem', '[{"operation_id": "tick", "cron": "* * * * *"}]');
-- (Tick keys are in a namespace only the scheduler writes: the superuser inserts the row.)
INSERT INTO taskmill.tasks (queue_name, operation_id, idempotency_key)
VALUES ('exec-idem', 'tick', tm_test.tick_key('tick', tm_test.make_due('exec-idem', 'tick')));
SELECT lives_ok('SELECT taskmill.run_due_schedules()', 'TestScheduler_Idempotency: no error');
SELECT is((SELECT count(*)::int FROM taskmill.tasks WHERE queue_name = 'exec-idem'), 1,
	'TestScheduler_Idempotency: no duplicate task');
SELECT results_eq($$SELECT last_status, next_run_at > now(), consecutive_failures FROM taskmill.task_schedules WHERE queue_name = 'exec-idem'$$,
	$$VALUES ('duplicate', true, 0)$$, 'TestScheduler_Idempotency: the tick counts as done and the schedule moves on');

-- FailedEnqueue: options that no longer pass validation (written behind register's back).
SELECT taskmill.register_schedules('exec-fail', '[{"operation_id": "broken", "cron": "0 0 * * *"}, {"operation_id": "fine", "cron": "0 0 * * *"}]');
UPDATE taskmill.task_schedules SET options = '{"priority": 1000}' WHERE queue_name = 'exec-fail' AND operation_id = 'broken';
SELECT tm_test.make_due('exec-fail', op) FROM unnest(ARRAY['broken', 'fine']) op;
SELECT is(taskmill.run_due_schedules(), 1, 'TestScheduler_FailedEnqueue: the other due schedule is still enqueued');
SELECT results_eq($$SELECT operation_id FROM taskmill.tasks WHERE queue_name = 'exec-fail'$$, ARRAY['fine'],
	'TestScheduler_FailedEnqueue: nothing enqueued for the failing schedule');
SELECT results_eq($$SELECT last_status, consecutive_failures, last_error LIKE '%priority%',
	next_run_at = least(now() + interval '10 seconds', taskmill.cron_next('0 0 * * *', now()))
	FROM taskmill.task_schedules WHERE queue_name = 'exec-fail' AND operation_id = 'broken'$$,
	$$VALUES ('failed', 1, true, true)$$, 'TestScheduler_FailedEnqueue: schedule marked failed with its error, retry in 10 s (or at the next tick if sooner)');
UPDATE taskmill.task_schedules SET next_run_at = now() - interval '1 second' WHERE queue_name = 'exec-fail' AND operation_id = 'broken';
SELECT taskmill.run_due_schedules();
SELECT results_eq($$SELECT consecutive_failures,
	next_run_at = least(now() + interval '20 seconds', taskmill.cron_next('0 0 * * *', now()))
	FROM taskmill.task_schedules WHERE queue_name = 'exec-fail' AND operation_id = 'broken'$$,
	$$VALUES (2, true)$$, 'TestScheduler_FailedEnqueue: the retry delay doubles');
UPDATE taskmill.task_schedules SET options = '{}', next_run_at = now() - interval '1 second' WHERE queue_name = 'exec-fail' AND operation_id = 'broken';
SELECT is(taskmill.run_due_schedules(), 1, 'TestScheduler_FailedEnqueue: once fixed, the retry enqueues');
SELECT results_eq($$SELECT last_status, consecutive_failures, last_error FROM taskmill.task_schedules WHERE queue_name = 'exec-fail' AND operation_id = 'broken'$$,
	$$VALUES ('enqueued', 0, NULL::text)$$, 'TestScheduler_FailedEnqueue: success clears the failure');

-- Catch-up: after three days down, a minutely schedule runs once, not 4320 times.
SELECT taskmill.register_schedules('exec-catchup', '[{"operation_id": "minutely", "cron": "* * * * *"}]');
UPDATE taskmill.task_schedules SET next_run_at = now() - interval '3 days' WHERE queue_name = 'exec-catchup';
SELECT is(taskmill.run_due_schedules(), 1, 'catch-up after downtime: one run, not a storm');
SELECT is((SELECT next_run_at FROM taskmill.task_schedules WHERE queue_name = 'exec-catchup'),
	date_trunc('minute', now()) + interval '1 minute', 'catch-up after downtime: next run is the next tick after now');

-- 4.3 Console schedule operations ---------------------------------------------------------

SELECT taskmill.register_schedules('queue-a', '[{"operation_id": "a1", "cron": "@daily"}, {"operation_id": "a2", "cron": "@hourly"}]');
SELECT taskmill.register_schedules('queue-b', '[{"operation_id": "b1", "cron": "@weekly", "payload": {"x": 1}, "options": {"priority": 3}}]');
SELECT results_eq($$SELECT queue_name, operation_id FROM taskmill.list_schedules() WHERE queue_name LIKE 'queue-_'$$,
	$$VALUES ('queue-a', 'a1'), ('queue-a', 'a2'), ('queue-b', 'b1')$$,
	'TestConsole_ListSchedules_All: all 3 returned');
SELECT results_eq($$SELECT operation_id FROM taskmill.list_schedules('queue-a')$$, ARRAY['a1', 'a2'],
	'TestConsole_ListSchedules_ByQueue: only queue-a schedules');
SELECT is_empty($$SELECT * FROM taskmill.list_schedules('queue-none')$$, 'TestConsole_ListSchedules_ByQueue: unknown queue, no rows');

SELECT taskmill.trigger_schedule('b1') AS trigger_id \gset
SELECT results_eq($$SELECT queue_name, operation_id, payload, priority, visible_at <= now()
	FROM taskmill.tasks WHERE id = $$ || :trigger_id,
	$$VALUES ('queue-b', 'b1', '{"x": 1}'::jsonb, 3, true)$$,
	'TestConsole_TriggerSchedule_Success: task enqueued immediately with the schedule''s payload and options');
SELECT is((SELECT next_run_at FROM taskmill.task_schedules WHERE operation_id = 'b1'), taskmill.cron_next('@weekly', now()),
	'TestConsole_TriggerSchedule_Success: the schedule''s own cadence is unchanged');
SELECT taskmill.trigger_schedule('b1', '{"priority": 50}') AS trigger_id \gset
SELECT is((SELECT priority FROM taskmill.tasks WHERE id = :trigger_id), 50,
	'TestConsole_TriggerSchedule_WithOptions: task has priority 50');
SELECT lives_ok($$SELECT taskmill.trigger_schedule('b1', 'null')$$,
	'TestConsole_TriggerSchedule_Success: JSON null options mean no overrides');
SELECT throws_ok($$SELECT taskmill.trigger_schedule('unknown')$$, 'P0002', 'schedule "unknown" does not exist',
	'TestConsole_TriggerSchedule_NotFound: P0002 (CodeScheduleNotFound)');

SELECT * FROM finish();
ROLLBACK;
