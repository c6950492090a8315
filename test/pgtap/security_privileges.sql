-- Issue 10 findings 3 and 8: no isolation between queues, forged rows. Rights on queues
-- (produce, consume, manage) are granted with taskmill.grant; every queue function checks
-- the caller's right (42501 naming the queue and the right) and runs as the extension
-- owner; the tables are granted to no one, so rows can be neither read nor written
-- directly. Each attack of the issue is tried by a role that holds rights on queue A only.
BEGIN;
\ir helpers.psql
SELECT plan(36);

CREATE ROLE tm_sec_priv_a LOGIN;		-- every right on queue sec-a
CREATE ROLE tm_sec_priv_p LOGIN;		-- produce on sec-a only
CREATE ROLE tm_sec_priv_team NOLOGIN;	-- consume on sec-team-*, through membership
CREATE ROLE tm_sec_priv_member LOGIN IN ROLE tm_sec_priv_team;
SELECT taskmill.grant('tm_sec_priv_a', 'sec-a', ARRAY['produce', 'consume', 'manage']);
SELECT taskmill.grant('tm_sec_priv_p', 'sec-a', ARRAY['produce']);
SELECT taskmill.grant('tm_sec_priv_team', 'sec-team-*', ARRAY['consume']);

-- Queue B's tasks, results and schedules, made by the superuser.
SELECT taskmill.enqueue('sec-b', 'done-op');
SELECT tm_test.take_and_ack('sec-b') IS NOT NULL;
SELECT taskmill.enqueue('sec-b', 'dead', max_attempts => 1) AS b_dead \gset
SELECT tm_test.take('sec-b') = :b_dead;
SELECT taskmill.nack(:b_dead, tm_test.lease(:b_dead), 'boom') = 'dlq';
SELECT taskmill.enqueue('sec-b', 'secret-op', '{"card": "4111"}') AS b_task \gset
SELECT taskmill.register_schedules('sec-b', '[{"operation_id": "b-tick", "cron": "* * * * *"}]');

SET ROLE tm_sec_priv_a;
-- Its own queue works.
SELECT ok(taskmill.enqueue('sec-a', 'op', '{"mine": true}') > 0, 'Security.Queue_Own: enqueue into the granted queue');
SELECT is((SELECT count(*) FROM taskmill.dequeue('sec-a', 10)), 1::bigint, 'Security.Queue_Own: dequeue from it');
SELECT is((SELECT total FROM taskmill.queue_stats('sec-a')), 1::bigint, 'Security.Queue_Own: its stats');
SELECT is(taskmill.purge('sec-a'), 1::bigint, 'Security.Queue_Own: purge it');

-- Finding 3: reading other queues' payloads, dequeuing, injecting, purging, replacing schedules.
SELECT throws_ok($$SELECT * FROM taskmill.tasks$$, '42501', NULL,
	'Security.Tables_Read: taskmill.tasks cannot be read directly');
SELECT throws_ok($$SELECT * FROM taskmill.task_results$$, '42501', NULL,
	'Security.Tables_Read: nor taskmill.task_results');
SELECT throws_ok($$SELECT * FROM taskmill.task_schedules$$, '42501', NULL,
	'Security.Tables_Read: nor taskmill.task_schedules');
SELECT throws_ok($$SELECT * FROM taskmill.queue_grants$$, '42501', NULL,
	'Security.Tables_Read: nor taskmill.queue_grants');
SELECT throws_ok($$SELECT * FROM taskmill.dequeue('sec-b')$$, '42501',
	'permission denied for queue "sec-b": consume right required',
	'Security.Queue_Other: dequeue from another queue is refused, naming queue and right');
SELECT throws_ok($$SELECT taskmill.enqueue('sec-b', 'injected')$$, '42501',
	'permission denied for queue "sec-b": produce right required',
	'Security.Queue_Other: enqueue into another queue is refused');
SELECT throws_ok($$SELECT taskmill.enqueue_batch('sec-b', '[{"operation_id": "x"}]')$$, '42501', NULL,
	'Security.Queue_Other: enqueue_batch too');
SELECT throws_ok($$SELECT taskmill.enqueue_arrays('sec-b', ARRAY['x'])$$, '42501', NULL,
	'Security.Queue_Other: enqueue_arrays too');
SELECT throws_ok($$SELECT taskmill.purge('sec-b')$$, '42501',
	'permission denied for queue "sec-b": manage right required',
	'Security.Queue_Other: purge of another queue is refused');
SELECT throws_ok($$SELECT taskmill.purge_dlq('sec-b')$$, '42501', NULL,
	'Security.Queue_Other: purge_dlq too');
SELECT throws_ok($$SELECT taskmill.register_schedules('sec-b', '[]')$$, '42501', NULL,
	'Security.Queue_Other: replacing its schedules is refused');
SELECT throws_ok($$SELECT taskmill.trigger_schedule('b-tick')$$, 'P0002', 'schedule "b-tick" does not exist',
	'Security.Queue_Other: its schedule, by operation id, is answered as a missing one');
SELECT throws_ok(format('SELECT taskmill.requeue_from_dlq(%s)', :b_dead), 'P0002', NULL,
	'Security.Queue_Other: requeueing its dead task is refused (as for a missing task)');
SELECT throws_ok($$SELECT * FROM taskmill.list_dlq('sec-b')$$, '42501', NULL,
	'Security.Queue_Other: listing its DLQ is refused');
SELECT is((SELECT count(*) FROM taskmill.list_dlq()), 0::bigint,
	'Security.Queue_Other: list_dlq of all queues shows none of its tasks');
SELECT is((SELECT count(*) FROM taskmill.list_results()), 0::bigint,
	'Security.Queue_Other: list_results of all queues shows none of its results');
SELECT is(taskmill.cleanup_results(), 0::bigint,
	'Security.Queue_Other: cleanup_results of all queues deletes none of its results');
SELECT is((SELECT count(*) FROM taskmill.list_schedules()), 0::bigint,
	'Security.Queue_Other: list_schedules of all queues shows none of its schedules');
SELECT is(ARRAY(SELECT * FROM taskmill.list_queues()), '{}'::text[],
	'Security.Queue_Other: list_queues does not name queues without a right');
SELECT throws_ok($$SELECT taskmill.grant('tm_sec_priv_a', '*', ARRAY['manage'])$$, '42501', NULL,
	'Security.Grant: a role cannot grant itself rights');
RESET ROLE;
SELECT is(tm_test.counts('sec-b'), 'available=1 in_flight=0 scheduled=0 dlq=1 results=1',
	'Security.Queue_Other: queue B is untouched');
SELECT is((SELECT count(*) FROM taskmill.task_schedules WHERE queue_name = 'sec-b'), 1::bigint,
	'Security.Queue_Other: its schedule is still there');

-- Finding 3: producers with idempotency keys need no SELECT on tasks.
SET ROLE tm_sec_priv_p;
SELECT ok(taskmill.enqueue('sec-a', 'op', idempotency_key => 'k-1') > 0,
	'Security.Producer_Key: a producer enqueues with an idempotency key');
SELECT throws_ok($$SELECT taskmill.enqueue('sec-a', 'op', idempotency_key => 'k-1')$$, '23505', NULL,
	'Security.Producer_Key: and learns of a duplicate key, without SELECT on the table');
SELECT throws_ok($$SELECT * FROM taskmill.dequeue('sec-a')$$, '42501',
	'permission denied for queue "sec-a": consume right required',
	'Security.Rights: produce does not include consume');

-- Finding 8: forged rows (any lease, attempts, priority 10000, max_attempts 0).
SELECT throws_ok($$INSERT INTO taskmill.tasks (queue_name, operation_id, priority, max_attempts, lease)
	VALUES ('sec-a', 'forged', 10000, 0, gen_random_uuid())$$, '42501', NULL,
	'Security.Forged_Rows: INSERT into taskmill.tasks is refused');
SELECT throws_ok($$UPDATE taskmill.tasks SET priority = 10000$$, '42501', NULL,
	'Security.Forged_Rows: UPDATE too');
SELECT throws_ok($$INSERT INTO taskmill.task_schedules (queue_name, operation_id, cron)
	VALUES ('sec-b', 'forged', '* * * * *')$$, '42501', NULL,
	'Security.Forged_Rows: INSERT into task_schedules too');
RESET ROLE;

-- Rights through role membership and patterns; revoke takes them back at once.
SELECT taskmill.enqueue('sec-team-x', 'op');
SET ROLE tm_sec_priv_member;
SELECT is((SELECT count(*) FROM taskmill.dequeue('sec-team-x')), 1::bigint,
	'Security.Grant_Pattern: consume on sec-team-* through membership of the granted role');
RESET ROLE;
SELECT taskmill.revoke('tm_sec_priv_team', 'sec-team-*');
SET ROLE tm_sec_priv_member;
SELECT throws_ok($$SELECT * FROM taskmill.dequeue('sec-team-x')$$, '42501', NULL,
	'Security.Revoke: the right is gone after revoke');
RESET ROLE;

-- The caller's search_path reaches nothing the owner runs: an operator planted on it is
-- never called by the queue functions (they run with search_path = pg_catalog, pg_temp).
CREATE SCHEMA tm_sec_evil;
GRANT USAGE, CREATE ON SCHEMA tm_sec_evil TO tm_sec_priv_a;
CREATE TABLE tm_sec_evil.calls (n int);
GRANT INSERT ON tm_sec_evil.calls TO PUBLIC;
SET ROLE tm_sec_priv_a;
CREATE FUNCTION tm_sec_evil.eq(bigint, bigint) RETURNS boolean LANGUAGE sql AS
	$$INSERT INTO tm_sec_evil.calls VALUES (1) RETURNING true$$;
CREATE OPERATOR tm_sec_evil.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = tm_sec_evil.eq);
CREATE FUNCTION tm_sec_evil.eqt(text, text) RETURNS boolean LANGUAGE sql AS
	$$INSERT INTO tm_sec_evil.calls VALUES (2) RETURNING true$$;
CREATE OPERATOR tm_sec_evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = tm_sec_evil.eqt);
SET search_path = tm_sec_evil, pg_catalog;
SELECT taskmill.enqueue('sec-a', 'op', idempotency_key => 'k-2') AS a_task \gset
SELECT id, lease FROM taskmill.dequeue('sec-a', 1) \gset
SELECT taskmill.ack(:id, :'lease');
SELECT taskmill.purge('sec-a');
RESET search_path;
RESET ROLE;
SELECT is((SELECT count(*) FROM tm_sec_evil.calls), 0::bigint,
	'Security.SearchPath: operators on the caller''s search_path are never run as the owner');
-- The same search_path in a superuser's session (a database owner can set it for the whole
-- database: ALTER DATABASE ... SET search_path) must not run them as the superuser either.
SET search_path = tm_sec_evil, pg_catalog;
SELECT taskmill.enqueue('sec-a', 'op', idempotency_key => 'k-3') AS a_task \gset
SELECT id, lease FROM taskmill.dequeue('sec-a', 1) \gset
SELECT taskmill.ack(:id, :'lease');
SELECT taskmill.purge('sec-a');
RESET search_path;
SELECT is((SELECT count(*) FROM tm_sec_evil.calls), 0::bigint,
	'Security.SearchPath_Superuser: nor in a superuser''s call');

SELECT * FROM finish();
ROLLBACK;
