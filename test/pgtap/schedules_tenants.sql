-- One tenant against another's schedules (docs/security.md, "Scheduler"). Tenant A
-- (tm_ten_a) manages and produces to queue ten-a; tenant B's schedules are in ten-b. A
-- role that may only produce to ten-b (tm_ten_p) tries to cancel B's ticks. Each attack is
-- replayed as the issue describes it; everything but the holder's session rolls back with
-- this file's transaction.
BEGIN;
\ir helpers.psql
SELECT plan(19);

CREATE ROLE tm_ten_a;
CREATE ROLE tm_ten_b;
CREATE ROLE tm_ten_p;
SELECT taskmill.grant('tm_ten_a', 'ten-a', ARRAY['manage', 'produce']);
SELECT taskmill.grant('tm_ten_b', 'ten-b', ARRAY['manage', 'produce']);
SELECT taskmill.grant('tm_ten_p', 'ten-b', ARRAY['produce']);

-- The key the 0.2 scheduler gave a tick (a caller could write it).
CREATE FUNCTION tm_test.old_tick_key(op text, tick timestamptz) RETURNS text LANGUAGE sql AS $$
	SELECT 'schedule:' || op || '@' || to_char(tick AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
$$;

SET LOCAL ROLE tm_ten_b;
SELECT taskmill.register_schedules('ten-b', '[{"operation_id": "b-tick", "cron": "@daily"}]');
RESET ROLE;

-- 1. A producer cancels a manager's tick -------------------------------------------------
-- The coming tick's key is predictable (cron_next is public): the producer enqueues it,
-- in both spellings, scheduled nine years ahead. The tick must still enqueue its task.
SELECT tm_test.make_due('ten-b', 'b-tick') AS b_tick \gset
SELECT tm_test.old_tick_key('b-tick', :'b_tick') AS b_old_key, tm_test.tick_key('b-tick', :'b_tick') AS b_key \gset
SET LOCAL ROLE tm_ten_p;
SELECT ok(taskmill.enqueue('ten-b', 'b-tick', idempotency_key => :'b_old_key',
	scheduled_at => now() + interval '9 years') > 0, 'TickKey_ProducerSquat: the old spelling of the key is an ordinary key');
SELECT throws_ok(format('SELECT taskmill.enqueue(%L, %L, idempotency_key => %L, scheduled_at => %L)',
	'ten-b', 'b-tick', :'b_key', now() + interval '9 years'), '22023',
	format('idempotency key "%s" is reserved', :'b_key'),
	'TickKey_ProducerSquat: a caller''s key in the ticks'' namespace is refused');
SELECT throws_ok($$SELECT taskmill.enqueue_batch('ten-b', '[{"operation_id": "x", "idempotency_key": "taskmill-schedule:b-tick@2099-01-01T00:00:00Z"}]')$$,
	'22023', NULL, 'TickKey_ProducerSquat: enqueue_batch refuses it too');
SELECT throws_ok($$SELECT taskmill.enqueue_arrays('ten-b', ARRAY['x'], idempotency_keys => ARRAY['taskmill-schedule:x'])$$,
	'22023', NULL, 'TickKey_ProducerSquat: and enqueue_arrays');
RESET ROLE;
SELECT throws_ok($$SELECT taskmill.enqueue('ten-b', 'x', idempotency_key => 'taskmill-schedule:x')$$,
	'22023', NULL, 'TickKey_ProducerSquat: a superuser''s enqueue is refused as well');
SELECT is(taskmill.run_due_schedules(), 1, 'TickKey_ProducerSquat: the tick enqueues its task');
SELECT results_eq($$SELECT last_status, next_run_at > now() FROM taskmill.task_schedules WHERE operation_id = 'b-tick'$$,
	$$VALUES ('enqueued', true)$$, 'TickKey_ProducerSquat: recorded as enqueued, not duplicate');
SELECT is((SELECT idempotency_key FROM taskmill.tasks t JOIN taskmill.task_schedules s ON t.id = s.last_task_id
	WHERE s.operation_id = 'b-tick'), tm_test.tick_key('b-tick', :'b_tick'),
	'TickKey_ProducerSquat: the task has the tick''s key, in the reserved namespace');

-- 2. A held tick key is tried later, without waiting -----------------------------------------
-- Tenant A's tick keys (both spellings) are held by an open transaction of another session;
-- B's schedule, due at the same time, runs, and A's are left due: no wait, no failure.
SET LOCAL ROLE tm_ten_a;
SELECT taskmill.register_schedules('ten-a', '[{"operation_id": "a1", "cron": "@daily"}, {"operation_id": "a2", "cron": "@daily"}]');
RESET ROLE;
SELECT tm_test.make_due('ten-a', 'a1') AS a_tick \gset
SELECT tm_test.make_due('ten-a', 'a2');
UPDATE taskmill.task_schedules SET next_run_at = date_trunc('minute', now()) - interval '2 minutes'
WHERE queue_name = 'ten-b' AND operation_id = 'b-tick';
SELECT dblink_connect('holder', format('host=127.0.0.1 port=%s user=postgres dbname=%s options=''-c statement_timeout=60s''',
	current_setting('port'), current_database()));
SELECT dblink_exec('holder', 'BEGIN');
SELECT dblink_exec('holder', format(
	'INSERT INTO taskmill.tasks (queue_name, operation_id, idempotency_key) SELECT %L, op, k'
	' FROM unnest(ARRAY[%L, %L, %L, %L], ARRAY[%L, %L, %L, %L]) AS x(op, k)',
	'ten-a', 'a1', 'a1', 'a2', 'a2',
	tm_test.tick_key('a1', :'a_tick'), tm_test.old_tick_key('a1', :'a_tick'),
	tm_test.tick_key('a2', :'a_tick'), tm_test.old_tick_key('a2', :'a_tick')));
SET LOCAL taskmill.scheduler_lock_timeout = '5s';
SELECT is(taskmill.run_due_schedules(), 1, 'HeldTickKey_OtherTenant: the other tenant''s tick runs');
SELECT results_eq($$SELECT operation_id, last_status, next_run_at = date_trunc('minute', now()) - interval '1 minute', consecutive_failures
	FROM taskmill.task_schedules WHERE queue_name = 'ten-a' ORDER BY operation_id$$,
	$$VALUES ('a1', NULL::text, true, 0), ('a2', NULL, true, 0)$$,
	'HeldTickKey_TryLater: the held ticks are left due, neither failed nor waited on (a wait would end in a lock timeout)');
SELECT dblink_exec('holder', 'ROLLBACK');
SELECT dblink_disconnect('holder');
SELECT is(taskmill.run_due_schedules(), 2, 'HeldTickKey_TryLater: once the keys are free, the next run enqueues both ticks');
SELECT is((SELECT array_agg(idempotency_key ORDER BY operation_id) FROM taskmill.tasks WHERE queue_name = 'ten-a'),
	ARRAY[tm_test.tick_key('a1', :'a_tick'), tm_test.tick_key('a2', :'a_tick')],
	'HeldTickKey_TryLater: each for the tick that was held (exactly once)');

-- 3. trigger_schedule: one answer for "missing" and "not yours" ------------------------------
SET LOCAL ROLE tm_ten_a;
SELECT throws_ok($$SELECT taskmill.trigger_schedule('no-such-op')$$, 'P0002',
	'schedule "no-such-op" does not exist', 'TriggerSchedule_Missing: a missing schedule');
SELECT throws_ok($$SELECT taskmill.trigger_schedule('b-tick')$$, 'P0002',
	'schedule "b-tick" does not exist', 'TriggerSchedule_NotYours: another tenant''s schedule gets the same answer');
SELECT ok(taskmill.trigger_schedule('a1') > 0, 'TriggerSchedule_Own: its own schedule is triggered by operation id');
RESET ROLE;
-- A schedule of the same name in a queue it may not manage is not in the way of its own.
SET LOCAL ROLE tm_ten_b;
SELECT taskmill.register_schedules('ten-b', '[{"operation_id": "b-tick", "cron": "@daily"}, {"operation_id": "a1", "cron": "@daily"}]');
RESET ROLE;
SET LOCAL ROLE tm_ten_a;
SELECT taskmill.trigger_schedule('a1') AS trig \gset
RESET ROLE;
SELECT is((SELECT queue_name FROM taskmill.tasks WHERE id = :trig), 'ten-a',
	'TriggerSchedule_NotYours: the name in another tenant''s queue is invisible');
SELECT throws_ok($$SELECT taskmill.trigger_schedule('a1')$$, 'P0003', NULL,
	'TriggerSchedule_Ambiguous: a role that manages both queues must name one');

-- 4. The cap on a queue's schedules ----------------------------------------------------------
SET LOCAL taskmill.max_schedules_per_queue = 3;
SET LOCAL ROLE tm_ten_a;
SELECT throws_ok($$SELECT taskmill.register_schedules('ten-a', (SELECT jsonb_agg(jsonb_build_object('operation_id', 'op' || g, 'cron', '@daily'))
	FROM generate_series(1, 4) g))$$, '54000', 'too many schedules for one queue',
	'ScheduleCap: a list longer than taskmill.max_schedules_per_queue is refused');
SELECT is(taskmill.register_schedules('ten-a', (SELECT jsonb_agg(jsonb_build_object('operation_id', 'op' || g, 'cron', '@daily'))
	FROM generate_series(1, 3) g)), 3, 'ScheduleCap: one at the cap is accepted');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
