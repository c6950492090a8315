-- Issue 10: the role x function matrix. Every public function of the extension (and its
-- tables and views) is called by five roles:
--   producer  produce on queue mx          worker   consume on mx
--   manager   manage on mx                 other    every right on queue mx-other only
--   connect   CONNECT only (no right on any queue)
-- Each call runs in a subtransaction that is rolled back, so calls do not affect each
-- other; the outcome is 'ok' or the SQLSTATE. The table of docs/security.md is this one.
-- ack, ack_many, nack, extend_visibility and release take the lease that dequeue handed
-- out: holding it is the right (a role that cannot dequeue never sees one), so they
-- succeed for whoever is given it.
BEGIN;
\ir helpers.psql
SELECT plan(51);

CREATE ROLE tm_mx_producer LOGIN;
CREATE ROLE tm_mx_worker LOGIN;
CREATE ROLE tm_mx_manager LOGIN;
CREATE ROLE tm_mx_other LOGIN;
CREATE ROLE tm_mx_connect LOGIN;
SELECT taskmill.grant('tm_mx_producer', 'mx', ARRAY['produce']);
SELECT taskmill.grant('tm_mx_worker', 'mx', ARRAY['consume']);
SELECT taskmill.grant('tm_mx_manager', 'mx', ARRAY['manage']);
SELECT taskmill.grant('tm_mx_other', 'mx-other', ARRAY['produce', 'consume', 'manage']);

-- Fixtures, made by the superuser: a delivery with its lease, a dead task, a schedule.
SELECT taskmill.enqueue('mx', 'work') AS t_work \gset
SELECT tm_test.take('mx') = :t_work;
SELECT tm_test.lease(:t_work) AS l_work \gset
SELECT taskmill.enqueue('mx', 'dead', max_attempts => 1) AS t_dead \gset
SELECT tm_test.take('mx') = :t_dead;
SELECT taskmill.nack(:t_dead, tm_test.lease(:t_dead), 'boom') = 'dlq';
SELECT taskmill.register_schedules('mx', '[{"operation_id": "mx-tick", "cron": "0 * * * *"}]');
SELECT taskmill.enqueue('mx', 'waiting') AS t_waiting \gset

-- Run call as role in a subtransaction that is always rolled back: 'ok' or the SQLSTATE.
CREATE FUNCTION tm_test.try_as(role text, call text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	state text;
BEGIN
	BEGIN
		EXECUTE format('SET LOCAL ROLE %I', role);
		EXECUTE call;
		RAISE EXCEPTION USING ERRCODE = 'P0099';
	EXCEPTION WHEN OTHERS THEN
		state := SQLSTATE;
	END;
	RETURN CASE state WHEN 'P0099' THEN 'ok' ELSE state END;
END $$;

CREATE TABLE tm_test.matrix (fn text, call text, expected text);
INSERT INTO tm_test.matrix VALUES
	-- producer / worker / manager / other / connect
	('enqueue', $$SELECT taskmill.enqueue('mx', 'op')$$, 'ok 42501 42501 42501 42501'),
	('enqueue_batch', $$SELECT taskmill.enqueue_batch('mx', '[{"operation_id": "op"}]')$$, 'ok 42501 42501 42501 42501'),
	('enqueue_arrays', $$SELECT taskmill.enqueue_arrays('mx', ARRAY['op'])$$, 'ok 42501 42501 42501 42501'),
	('dequeue', $$SELECT * FROM taskmill.dequeue('mx')$$, '42501 ok 42501 42501 42501'),
	('ack_dequeue', $$SELECT * FROM taskmill.ack_dequeue('mx')$$, '42501 ok 42501 42501 42501'),
	('wait_begin', $$SELECT taskmill.wait_begin('mx')$$, '42501 ok 42501 42501 42501'),
	('wait_end', $$SELECT taskmill.wait_end('mx')$$, 'ok ok ok ok ok'),
	('listen', $$SELECT taskmill.listen('mx')$$, '42501 ok 42501 42501 42501'),
	('ack', format('SELECT taskmill.ack(%s, %L)', :t_work, :'l_work'), 'ok ok ok ok ok'),
	('ack_many', format('SELECT taskmill.ack_many(ARRAY[%s], ARRAY[%L]::uuid[])', :t_work, :'l_work'), 'ok ok ok ok ok'),
	('nack', format('SELECT taskmill.nack(%s, %L, %L)', :t_work, :'l_work', 'err'), 'ok ok ok ok ok'),
	('extend_visibility', format('SELECT taskmill.extend_visibility(%s, %L, %L)', :t_work, :'l_work', '1 minute'), 'ok ok ok ok ok'),
	('release', format('SELECT taskmill.release(ARRAY[%s], ARRAY[%L]::uuid[])', :t_work, :'l_work'), 'ok ok ok ok ok'),
	-- a task of a queue the caller does not manage is not found, as a missing one is
	('requeue_from_dlq', format('SELECT taskmill.requeue_from_dlq(%s)', :t_dead), 'P0002 P0002 ok P0002 P0002'),
	('list_tasks', $$SELECT * FROM taskmill.list_tasks('mx')$$, '42501 42501 ok 42501 42501'),
	-- a task of a queue the caller cannot manage reads as a task that does not exist
	('delete_task', format('SELECT taskmill.delete_task(%s)', :t_waiting), 'P0002 P0002 ok P0002 P0002'),
	('queue_stats', $$SELECT * FROM taskmill.queue_stats('mx')$$, 'ok ok ok 42501 42501'),
	('list_queues', $$SELECT * FROM taskmill.list_queues()$$, 'ok ok ok ok ok'),
	('purge', $$SELECT taskmill.purge('mx')$$, '42501 42501 ok 42501 42501'),
	('purge_dlq', $$SELECT taskmill.purge_dlq('mx')$$, '42501 42501 ok 42501 42501'),
	('list_dlq', $$SELECT * FROM taskmill.list_dlq('mx')$$, '42501 42501 ok 42501 42501'),
	('list_results', $$SELECT * FROM taskmill.list_results('mx')$$, '42501 42501 ok 42501 42501'),
	('cleanup_results', $$SELECT taskmill.cleanup_results('mx')$$, '42501 42501 ok 42501 42501'),
	('register_schedules', $$SELECT taskmill.register_schedules('mx', '[]')$$, '42501 42501 ok 42501 42501'),
	('list_schedules', $$SELECT * FROM taskmill.list_schedules('mx')$$, '42501 42501 ok 42501 42501'),
	('trigger_schedule', $$SELECT taskmill.trigger_schedule('mx-tick', NULL, 'mx')$$, '42501 42501 ok 42501 42501'),
	('run_due_schedules', $$SELECT taskmill.run_due_schedules()$$, '42501 42501 42501 42501 42501'),
	('grant', $$SELECT taskmill.grant('tm_mx_connect', 'mx', ARRAY['manage'])$$, '42501 42501 42501 42501 42501'),
	('revoke', $$SELECT taskmill.revoke('tm_mx_producer', 'mx')$$, '42501 42501 42501 42501 42501'),
	('require_grant_manager', $$SELECT taskmill.require_grant_manager('grant')$$, '42501 42501 42501 42501 42501'),
	-- about another role: its members, managers of the queue, superusers and the owner only
	('has_queue_right', $$SELECT taskmill.has_queue_right('tm_mx_worker', 'mx', 'consume')$$, '42501 ok ok 42501 42501'),
	('try_group_lock', $$SELECT taskmill.try_group_lock('mx', 'g')$$, '42501 42501 42501 42501 42501'),
	('queue_grants_changed', $$SELECT taskmill.queue_grants_changed()$$, '39P01 39P01 39P01 39P01 39P01'),
	('cron_next', $$SELECT taskmill.cron_next('* * * * *', now())$$, 'ok ok ok ok ok'),
	('cron_validate', $$SELECT taskmill.cron_validate('* * * * *')$$, 'ok ok ok ok ok'),
	('dequeue_sql', $$SELECT taskmill.dequeue_sql()$$, 'ok ok ok ok ok'),
	('hot_statements', $$SELECT * FROM taskmill.hot_statements()$$, 'ok ok ok ok ok'),
	('console_statements', $$SELECT * FROM taskmill.console_statements()$$, 'ok ok ok ok ok'),
	-- tables and views: granted to no one
	('table tasks', $$SELECT * FROM taskmill.tasks$$, '42501 42501 42501 42501 42501'),
	('table task_results', $$SELECT * FROM taskmill.task_results$$, '42501 42501 42501 42501 42501'),
	('table task_schedules', $$SELECT * FROM taskmill.task_schedules$$, '42501 42501 42501 42501 42501'),
	('table queue_grants', $$SELECT * FROM taskmill.queue_grants$$, '42501 42501 42501 42501 42501'),
	('table install_secret', $$SELECT * FROM taskmill.install_secret$$, '42501 42501 42501 42501 42501'),
	('insert tasks', $$INSERT INTO taskmill.tasks (queue_name, operation_id) VALUES ('mx', 'forged')$$, '42501 42501 42501 42501 42501'),
	('view health', $$SELECT * FROM taskmill.health$$, '42501 42501 42501 42501 42501'),
	('view table_health', $$SELECT * FROM taskmill.table_health$$, '42501 42501 42501 42501 42501'),
	('view xmin_holders', $$SELECT * FROM taskmill.xmin_holders$$, '42501 42501 42501 42501 42501');

SELECT is((SELECT concat_ws(' ',
		tm_test.try_as('tm_mx_producer', m.call), tm_test.try_as('tm_mx_worker', m.call),
		tm_test.try_as('tm_mx_manager', m.call), tm_test.try_as('tm_mx_other', m.call),
		tm_test.try_as('tm_mx_connect', m.call))),
	m.expected, 'Security.Matrix: ' || m.fn || ' (producer worker manager other connect)')
FROM tm_test.matrix m ORDER BY m.fn;

-- Every function of the extension is in the matrix.
SELECT is(ARRAY(SELECT p.proname::text FROM pg_proc p
		JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
		JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'taskmill'
		WHERE p.proname NOT IN (SELECT fn FROM tm_test.matrix) ORDER BY 1), '{}'::text[],
	'Security.Matrix: covers every function of the extension');

-- Superusers (this session) and the extension owner hold every right.
SELECT is(concat_ws(' ', taskmill.has_queue_right(current_user::regrole, 'mx', 'produce'),
		taskmill.has_queue_right(current_user::regrole, 'any-queue', 'consume'),
		taskmill.has_queue_right(current_user::regrole, 'mx-other', 'manage')), 't t t',
	'Security.Matrix: a superuser holds every right on every queue');

-- What the roles see of the queues: their own only.
SET ROLE tm_mx_other;
SELECT is(ARRAY(SELECT * FROM taskmill.list_queues()), '{}'::text[],
	'Security.Matrix: list_queues does not show mx to a role with rights on another queue only');
RESET ROLE;
SET ROLE tm_mx_worker;
SELECT is(ARRAY(SELECT * FROM taskmill.list_queues()), ARRAY['mx'],
	'Security.Matrix: list_queues shows mx to its worker');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
