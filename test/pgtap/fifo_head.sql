-- A producer cannot stop a FIFO group: a group's head is its first task by (priority DESC,
-- id) among those that are due or were delivered before; a task enqueued for later joins the
-- order when it comes due. Start times are bounded (finite, at most 10 years ahead). A manager
-- lists a queue's tasks and deletes single ones; deleting a group's head wakes the next.
BEGIN;
\ir helpers.psql
SELECT plan(44);

CREATE ROLE tm_fh_producer LOGIN;
CREATE ROLE tm_fh_worker LOGIN;
CREATE ROLE tm_fh_manager LOGIN;
CREATE ROLE tm_fh_other LOGIN;
CREATE ROLE tm_fh_connect LOGIN;
SELECT taskmill.grant('tm_fh_producer', 'fh', ARRAY['produce']);
SELECT taskmill.grant('tm_fh_worker', 'fh', ARRAY['consume']);
SELECT taskmill.grant('tm_fh_manager', 'fh', ARRAY['manage']);
SELECT taskmill.grant('tm_fh_other', 'fh-other', ARRAY['produce', 'consume', 'manage']);
GRANT USAGE ON SCHEMA tm_test TO tm_fh_manager;

-- The SQLSTATE and message of a statement run as role (in a subtransaction): 'ok' or 'SQLSTATE: message'.
CREATE FUNCTION tm_test.outcome_as(role text, stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE format('SET LOCAL ROLE %I', role);
	EXECUTE stmt;
	RESET ROLE;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;
CREATE FUNCTION tm_test.state_as(role text, stmt text) RETURNS text LANGUAGE sql AS $$
	SELECT split_part(tm_test.outcome_as(role, stmt), ':', 1)
$$;

-- ---- The attack: a producer's task at priority 100 that never comes due ----

SELECT is(tm_test.outcome_as('tm_fh_producer',
		$$SELECT taskmill.enqueue('fh', 'block', priority => 100, task_group_id => 'g', scheduled_at => 'infinity')$$),
	'22023: scheduled_at must be a finite time',
	'FifoHead.Attack: enqueue with scheduled_at infinity is refused (22023)');
SELECT is(tm_test.outcome_as('tm_fh_producer',
		$$SELECT taskmill.enqueue('fh', 'block', priority => 100, task_group_id => 'g',
			scheduled_at => now() + interval '10 years 1 day')$$),
	'22023: scheduled_at is more than 10 years ahead',
	'FifoHead.Attack: enqueue more than 10 years ahead is refused, naming the bound');
SELECT is(tm_test.state_as('tm_fh_producer',
		$$SELECT taskmill.enqueue_batch('fh', '[{"operation_id": "block", "task_group_id": "g", "scheduled_at": "infinity"}]')$$),
	'22023', 'FifoHead.Attack: enqueue_batch with scheduled_at infinity is refused');
SELECT is(tm_test.state_as('tm_fh_producer',
		$$SELECT taskmill.enqueue_arrays('fh', ARRAY['block'], scheduled_ats => ARRAY['infinity']::timestamptz[],
			task_group_ids => ARRAY['g'])$$),
	'22023', 'FifoHead.Attack: enqueue_arrays with scheduled_at infinity is refused');
SELECT is(tm_test.state_as('tm_fh_producer',
		$$SELECT taskmill.enqueue('fh', 'old', scheduled_at => '-infinity')$$),
	'22023', 'FifoHead.Attack: -infinity is refused too');
SELECT is((SELECT count(*) FROM taskmill.tasks WHERE queue_name = 'fh'), 0::bigint,
	'FifoHead.Attack: nothing of the refused calls was written');

-- Within the bound, at the highest priority: the group is not blocked.
SELECT is(tm_test.outcome_as('tm_fh_producer',
		$$SELECT taskmill.enqueue('fh', 'block', priority => 100, task_group_id => 'g',
			scheduled_at => now() + interval '9 years')$$),
	'ok', 'FifoHead.Attack: a task 9 years ahead at priority 100 is accepted');
SELECT id AS t_block FROM taskmill.tasks WHERE queue_name = 'fh' AND operation_id = 'block' \gset
SELECT taskmill.enqueue('fh', 'a1', task_group_id => 'g') AS a1 \gset
SELECT taskmill.enqueue('fh', 'a2', task_group_id => 'g') AS a2 \gset
SELECT is(tm_test.take('fh'), :a1::bigint,
	'FifoHead.FarFuture: the first due task heads the group, not the task 9 years ahead');
SELECT is(tm_test.take('fh'), NULL, 'FifoHead.FarFuture: one in flight at a time still holds');
SELECT ok(taskmill.ack(:a1, tm_test.lease(:a1)), 'FifoHead.FarFuture: ack a1');
SELECT is(tm_test.take('fh'), :a2::bigint, 'FifoHead.FarFuture: a2 follows');
SELECT is(tm_test.state(:t_block), 'scheduled', 'FifoHead.FarFuture: the far task waits for its time');
SELECT ok(taskmill.ack(:a2, tm_test.lease(:a2)), 'FifoHead.FarFuture: ack a2');

-- A task enqueued for later joins the order when due, at its place by (priority, id).
SELECT taskmill.enqueue('fh-later', 'f', task_group_id => 'g', scheduled_at => now() + interval '1 hour') AS f \gset
SELECT taskmill.enqueue('fh-later', 'x1', task_group_id => 'g') AS x1 \gset
SELECT taskmill.enqueue('fh-later', 'x2', task_group_id => 'g') AS x2 \gset
SELECT is(tm_test.take('fh-later'), :x1::bigint, 'FifoHead.Later: x1 first: f is not due');
SELECT tm_test.time_passes(:f);
SELECT is(tm_test.take('fh-later'), NULL, 'FifoHead.Later: f came due while x1 is in flight: nothing');
SELECT ok(taskmill.ack(:x1, tm_test.lease(:x1)), 'FifoHead.Later: ack x1 (wakes the head)');
SELECT is(tm_test.take('fh-later'), :f::bigint, 'FifoHead.Later: f, now due, comes before x2 (lower id)');
SELECT ok(taskmill.ack(:f, tm_test.lease(:f)), 'FifoHead.Later: ack f');
SELECT is(tm_test.take('fh-later'), :x2::bigint, 'FifoHead.Later: then x2');

-- A head waiting for its retry keeps its place (unchanged by the rule).
SELECT taskmill.enqueue('fh-retry', 'r1', task_group_id => 'g') AS r1 \gset
SELECT taskmill.enqueue('fh-retry', 'r2', task_group_id => 'g') AS r2 \gset
SELECT is(tm_test.take('fh-retry'), :r1::bigint, 'FifoHead.Retry: r1 delivered');
SELECT is(taskmill.nack(:r1, tm_test.lease(:r1), 'fail', interval '1 hour'), 'retry', 'FifoHead.Retry: r1 fails');
SELECT is(tm_test.take('fh-retry'), NULL, 'FifoHead.Retry: r2 waits behind r1''s retry');
SELECT tm_test.time_passes(:r1);
SELECT is(tm_test.take('fh-retry'), :r1::bigint, 'FifoHead.Retry: r1 again, before r2');

-- ---- list_tasks and delete_task: who may ----

SELECT taskmill.enqueue('fh', 'm' || i, task_group_id => 'm') FROM generate_series(1, 3) i;
SELECT min(id) AS m1, max(id) AS m3 FROM taskmill.tasks WHERE queue_name = 'fh' AND task_group_id = 'm' \gset
SELECT is(concat_ws(' ',
		tm_test.state_as('tm_fh_producer', $$SELECT * FROM taskmill.list_tasks('fh')$$),
		tm_test.state_as('tm_fh_worker', $$SELECT * FROM taskmill.list_tasks('fh')$$),
		tm_test.state_as('tm_fh_manager', $$SELECT * FROM taskmill.list_tasks('fh')$$),
		tm_test.state_as('tm_fh_other', $$SELECT * FROM taskmill.list_tasks('fh')$$),
		tm_test.state_as('tm_fh_connect', $$SELECT * FROM taskmill.list_tasks('fh')$$)),
	'42501 42501 ok 42501 42501', 'FifoHead.Rights: list_tasks needs manage (producer worker manager other connect)');
SELECT is(concat_ws(' ',
		tm_test.state_as('tm_fh_producer', format('SELECT taskmill.delete_task(%s)', :m3)),
		tm_test.state_as('tm_fh_worker', format('SELECT taskmill.delete_task(%s)', :m3)),
		tm_test.state_as('tm_fh_other', format('SELECT taskmill.delete_task(%s)', :m3)),
		tm_test.state_as('tm_fh_connect', format('SELECT taskmill.delete_task(%s)', :m3))),
	'P0002 P0002 P0002 P0002', 'FifoHead.Rights: delete_task by a role without manage: P0002, nothing deleted');
SELECT is(tm_test.state(:m3), 'available', 'FifoHead.Rights: the task is still there');
SELECT is(replace(tm_test.outcome_as('tm_fh_other', format('SELECT taskmill.delete_task(%s)', :m3)), :m3::text, 'N'),
	replace(tm_test.outcome_as('tm_fh_manager', 'SELECT taskmill.delete_task(9223372036854775807)'), '9223372036854775807', 'N'),
	'FifoHead.Rights: a task of a queue not managed and a missing task get the same answer');
SELECT is(tm_test.outcome_as('tm_fh_manager', format('SELECT taskmill.delete_task(%s)', :m3)), 'ok',
	'FifoHead.Rights: the manager deletes it');
SELECT is(tm_test.state(:m3), 'gone', 'FifoHead.Rights: the task is gone, with no result');

-- ---- list_tasks: pages, states, no lease ----

SELECT is(tm_test.take('fh', 'm'), :m1::bigint, 'FifoHead.List: m1 delivered');
SET LOCAL ROLE tm_fh_manager;
SELECT is(ARRAY(SELECT operation_id FROM taskmill.list_tasks('fh', "limit" => 2)), ARRAY['block', 'm1'],
	'FifoHead.List: the first page, by id');
SELECT is(ARRAY(SELECT operation_id FROM taskmill.list_tasks('fh', after_id => :m1, "limit" => 2)), ARRAY['m2'],
	'FifoHead.List: the next page starts after after_id');
SELECT is(ARRAY(SELECT operation_id || ' ' || coalesce(lease::text, 'no lease') FROM taskmill.list_tasks('fh', 'in_flight')),
	ARRAY['m1 no lease'], 'FifoHead.List: state in_flight, and the lease is not shown');
SELECT is(ARRAY(SELECT operation_id FROM taskmill.list_tasks('fh', 'scheduled', task_group_id => 'g')), ARRAY['block'],
	'FifoHead.List: state and group filters');
SELECT is(concat_ws(' ', tm_test.sqlstate_of($$SELECT * FROM taskmill.list_tasks('fh', "limit" => 0)$$),
		tm_test.sqlstate_of($$SELECT * FROM taskmill.list_tasks('fh', "limit" => 1001)$$),
		tm_test.sqlstate_of($$SELECT * FROM taskmill.list_tasks('fh', 'bogus')$$),
		tm_test.sqlstate_of($$SELECT * FROM taskmill.list_tasks(NULL)$$)),
	'22023 22023 22023 22004', 'FifoHead.List: limit out of 1..1000, an unknown state, a NULL queue');

-- ---- delete_task and the group's head ----

-- m1 in flight heads group m: deleting it needs force; then m2 is woken and delivered.
SELECT is(tm_test.sqlstate_of(format('SELECT taskmill.delete_task(%s)', :m1)), '55006',
	'FifoHead.Delete: a task in flight is refused without force (55006)');
RESET ROLE;
SELECT is(tm_test.take('fh', 'm'), NULL, 'FifoHead.Delete: m2 is parked behind m1');
SELECT ok((SELECT waiting FROM taskmill.tasks WHERE queue_name = 'fh' AND operation_id = 'm2'),
	'FifoHead.Delete: m2 waits (parked)');
SET LOCAL ROLE tm_fh_manager;
SELECT is(tm_test.sqlstate_of(format('SELECT taskmill.delete_task(%s, force => true)', :m1)), 'ok',
	'FifoHead.Delete: with force it is deleted');
RESET ROLE;
SELECT ok(NOT (SELECT waiting FROM taskmill.tasks WHERE queue_name = 'fh' AND operation_id = 'm2'),
	'FifoHead.Delete: deleting the head woke m2 at once');
SELECT is((SELECT operation_id FROM taskmill.dequeue('fh', task_group_id => 'm')), 'm2',
	'FifoHead.Delete: m2 is delivered next');
-- A head waiting for its retry, deleted: the task behind it is woken.
SELECT is(taskmill.nack(:r1, tm_test.lease(:r1), 'fail', interval '1 hour'), 'retry', 'FifoHead.Delete: r1 waits for a retry again');
SELECT is(tm_test.take('fh-retry'), NULL, 'FifoHead.Delete: r2 is parked behind r1');
SELECT taskmill.delete_task(:r1);
SELECT is(tm_test.take('fh-retry'), :r2::bigint, 'FifoHead.Delete: after r1 is deleted, r2 is delivered');

SELECT * FROM finish();
ROLLBACK;
