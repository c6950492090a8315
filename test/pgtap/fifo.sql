-- Seed section 7 at SQL level: FIFO task groups deliver their head only, one at a time, in
-- (priority DESC, id ASC) order; groups are independent. Races between sessions are in
-- test/isolation/specs/fifo_group_lock.spec and concurrency.sql.
BEGIN;
\ir helpers.psql
SELECT plan(35);

-- TestFIFO_SingleGroup_Ordering: 1..5 in group-a come out 1, 2, 3, 4, 5.
SELECT taskmill.enqueue('fifo-order', 'op', jsonb_build_object('n', i), task_group_id => 'group-a')
FROM generate_series(1, 5) i;
CREATE TEMP TABLE fifo_seen (k serial, n int);
DO $$
DECLARE
	got bigint;
BEGIN
	FOR i IN 1..6 LOOP
		got := tm_test.take_and_ack('fifo-order');
		EXIT WHEN got IS NULL;
		INSERT INTO fifo_seen (n) SELECT (payload->>'n')::int FROM taskmill.task_results WHERE id = got;
	END LOOP;
END $$;
SELECT is((SELECT string_agg(n::text, ',' ORDER BY k) FROM fifo_seen), '1,2,3,4,5',
	'TestFIFO_SingleGroup_Ordering: processed in order 1, 2, 3, 4, 5');

-- TestFIFO_MultipleGroups_Independent: heads of a and b together, then each group in order.
SELECT taskmill.enqueue('fifo-indep', 'a1', task_group_id => 'group-a') AS a1 \gset
SELECT taskmill.enqueue('fifo-indep', 'b1', task_group_id => 'group-b') AS b1 \gset
SELECT taskmill.enqueue('fifo-indep', 'a2', task_group_id => 'group-a') AS a2 \gset
SELECT taskmill.enqueue('fifo-indep', 'b2', task_group_id => 'group-b') AS b2 \gset
CREATE TEMP TABLE fifo_batch AS SELECT id, lease, operation_id FROM taskmill.dequeue('fifo-indep', batch_size => 10);
SELECT results_eq($$SELECT operation_id FROM fifo_batch ORDER BY operation_id$$, ARRAY['a1', 'b1'],
	'TestFIFO_MultipleGroups_Independent: one batch delivers both heads, a1 and b1, and nothing else');
SELECT ok(taskmill.ack(:a1, tm_test.lease(:a1)), 'TestFIFO_MultipleGroups_Independent: ack a1');
SELECT results_eq($$SELECT operation_id FROM taskmill.dequeue('fifo-indep', batch_size => 10)$$, ARRAY['a2'],
	'TestFIFO_MultipleGroups_Independent: a2 follows while b1 is still in flight');
SELECT ok(taskmill.ack(:b1, tm_test.lease(:b1)), 'TestFIFO_MultipleGroups_Independent: ack b1');
SELECT results_eq($$SELECT operation_id FROM taskmill.dequeue('fifo-indep', batch_size => 10)$$, ARRAY['b2'],
	'TestFIFO_MultipleGroups_Independent: then b2');

-- TestFIFO_AdvisoryLock_Serialization (one session): with its head in flight a group yields
-- nothing, however often or however many are asked for; ungrouped tasks still flow.
SELECT taskmill.enqueue('fifo-serial', 'op', task_group_id => 'group-a') FROM generate_series(1, 5);
SELECT taskmill.enqueue('fifo-serial', 'free') AS t_free \gset
SELECT is((SELECT count(*) FROM taskmill.dequeue('fifo-serial', batch_size => 10) WHERE task_group_id = 'group-a'), 1::bigint,
	'TestFIFO_AdvisoryLock_Serialization: a batch of 10 gets one task of the group');
SELECT is(tm_test.state(:t_free), 'in_flight', 'TestFIFO_AdvisoryLock_Serialization: the same batch got the ungrouped task');
SELECT is((SELECT count(*) FROM taskmill.dequeue('fifo-serial', batch_size => 10)), 0::bigint,
	'TestFIFO_AdvisoryLock_Serialization: a second batch gets nothing while the head is in flight');
SELECT is((SELECT count(*) FROM taskmill.dequeue('fifo-serial', batch_size => 10, task_group_id => 'group-a')), 0::bigint,
	'TestFIFO_AdvisoryLock_Serialization: nor does a dequeue filtered on the group');
SELECT is((SELECT count(*) FROM taskmill.tasks WHERE queue_name = 'fifo-serial' AND task_group_id = 'group-a'
           AND tm_test.state(id) = 'in_flight'), 1::bigint,
	'TestFIFO_AdvisoryLock_Serialization: exactly one task of the group in flight');

-- TestFIFO_LockRelease_OnCompletion: the second task waits for the first to be acked.
SELECT taskmill.enqueue('fifo-release', 'first', task_group_id => 'g') AS r1 \gset
SELECT taskmill.enqueue('fifo-release', 'second', task_group_id => 'g') AS r2 \gset
SELECT is(tm_test.take('fifo-release'), :r1::bigint, 'TestFIFO_LockRelease_OnCompletion: first delivered');
SELECT is(tm_test.take('fifo-release'), NULL, 'TestFIFO_LockRelease_OnCompletion: second not processable yet');
SELECT ok(taskmill.ack(:r1, tm_test.lease(:r1)), 'TestFIFO_LockRelease_OnCompletion: first acked');
SELECT is(tm_test.take('fifo-release'), :r2::bigint, 'TestFIFO_LockRelease_OnCompletion: second becomes processable');

-- TestFIFO_LockRelease_OnFailure: a failed head blocks its group while waiting for its retry,
-- is redelivered first, and frees the group when acked or dead-lettered.
SELECT taskmill.enqueue('fifo-fail', 'first', task_group_id => 'g', max_attempts => 2) AS f1 \gset
SELECT taskmill.enqueue('fifo-fail', 'second', task_group_id => 'g') AS f2 \gset
SELECT is(tm_test.take('fifo-fail'), :f1::bigint, 'TestFIFO_LockRelease_OnFailure: first delivered');
SELECT is(taskmill.nack(:f1, tm_test.lease(:f1), 'fail'), 'retry', 'TestFIFO_LockRelease_OnFailure: first fails');
SELECT is(tm_test.take('fifo-fail'), NULL, 'TestFIFO_LockRelease_OnFailure: the group waits for the retry of its head');
SELECT tm_test.time_passes(:f1);
SELECT is(tm_test.take('fifo-fail'), :f1::bigint, 'TestFIFO_LockRelease_OnFailure: the retry acquires the group again');
SELECT is(taskmill.nack(:f1, tm_test.lease(:f1), 'fail again'), 'dlq', 'TestFIFO_LockRelease_OnFailure: second failure dead-letters');
SELECT is(tm_test.take('fifo-fail'), :f2::bigint, 'TestFIFO_LockRelease_OnFailure: the dead-lettered head frees the group');

-- A crashed worker frees its group when the visibility timeout passes.
SELECT taskmill.enqueue('fifo-crash', 'first', task_group_id => 'g') AS c1 \gset
SELECT taskmill.enqueue('fifo-crash', 'second', task_group_id => 'g');
SELECT is(tm_test.take('fifo-crash'), :c1::bigint, 'FIFO.VisibilityTimeout: first delivered, worker then crashes');
SELECT is(tm_test.take('fifo-crash'), NULL, 'FIFO.VisibilityTimeout: group blocked meanwhile');
SELECT tm_test.time_passes(:c1);
SELECT is(tm_test.take('fifo-crash'), :c1::bigint, 'FIFO.VisibilityTimeout: after the timeout the same head is redelivered');

-- TestFIFO_WorkerWithGroupFilter: a dequeue filtered on group-a sees nothing else.
SELECT taskmill.enqueue('fifo-filter', 'b1', task_group_id => 'group-b');
SELECT taskmill.enqueue('fifo-filter', 'free');
SELECT taskmill.enqueue('fifo-filter', 'a1', task_group_id => 'group-a');
SELECT taskmill.enqueue('fifo-filter', 'a2', task_group_id => 'group-a');
SELECT results_eq($$SELECT operation_id FROM taskmill.dequeue('fifo-filter', batch_size => 10, task_group_id => 'group-a')$$,
	ARRAY['a1'], 'TestFIFO_WorkerWithGroupFilter: only the group-a head is delivered');
SELECT is((SELECT count(*) FROM taskmill.tasks WHERE queue_name = 'fifo-filter' AND attempts > 0), 1::bigint,
	'TestFIFO_WorkerWithGroupFilter: group-b and ungrouped tasks untouched');
SELECT is((SELECT count(*) FROM taskmill.dequeue('fifo-filter', batch_size => 10, task_group_id => 'group-a')), 0::bigint,
	'TestFIFO_WorkerWithGroupFilter: group-a yields nothing more while a1 is in flight');
SELECT results_eq($$SELECT operation_id FROM taskmill.dequeue('fifo-filter', batch_size => 10, task_group_id => 'group-b')$$,
	ARRAY['b1'], 'TestFIFO_WorkerWithGroupFilter: a group-b filter gets group-b only');

-- TestFIFO_Priority_WithinGroup: priority DESC, then id, inside the group.
SELECT taskmill.enqueue('fifo-prio', 'p0', priority => 0, task_group_id => 'g');
SELECT taskmill.enqueue('fifo-prio', 'p10', priority => 10, task_group_id => 'g');
SELECT taskmill.enqueue('fifo-prio', 'p5a', priority => 5, task_group_id => 'g');
SELECT taskmill.enqueue('fifo-prio', 'p5b', priority => 5, task_group_id => 'g');
CREATE TEMP TABLE fifo_ops (k serial, op text);
DO $$
DECLARE
	got bigint;
BEGIN
	FOR i IN 1..5 LOOP
		got := tm_test.take_and_ack('fifo-prio', 'g');
		EXIT WHEN got IS NULL;
		INSERT INTO fifo_ops (op) SELECT operation_id FROM taskmill.task_results WHERE id = got;
	END LOOP;
END $$;
SELECT is((SELECT string_agg(op, ',' ORDER BY k) FROM fifo_ops), 'p10,p5a,p5b,p0',
	'TestFIFO_Priority_WithinGroup: higher priority first, then enqueue order');

-- The head is the first task not in the DLQ among those due or delivered before: a task
-- enqueued for later holds back nothing until it is due (test/pgtap/fifo_head.sql).
SELECT taskmill.enqueue('fifo-head', 'later', task_group_id => 'g', scheduled_at => now() + interval '1 hour') AS h1 \gset
SELECT taskmill.enqueue('fifo-head', 'now', task_group_id => 'g') AS h2 \gset
SELECT is(tm_test.take('fifo-head'), :h2::bigint, 'FIFO.HeadNotDue: a task not yet due does not hold back the due task behind it');
SELECT taskmill.ack(:h2, tm_test.lease(:h2));
SELECT tm_test.time_passes(:h1);
SELECT is(tm_test.take('fifo-head'), :h1::bigint, 'FIFO.HeadNotDue: the later task is delivered once due');

-- Groups are per queue: the same group name in another queue is independent.
SELECT taskmill.enqueue('fifo-q1', 'x', task_group_id => 'shared') AS q1 \gset
SELECT taskmill.enqueue('fifo-q2', 'y', task_group_id => 'shared') AS q2 \gset
SELECT is(tm_test.take('fifo-q1'), :q1::bigint, 'FIFO.GroupPerQueue: group "shared" in queue 1 delivered');
SELECT is(tm_test.take('fifo-q2'), :q2::bigint, 'FIFO.GroupPerQueue: group "shared" in queue 2 not blocked by it');

-- An expired head is dead-lettered on the way and the next task of its group delivered.
SELECT taskmill.enqueue('fifo-expired', 'old', task_group_id => 'g', scheduled_at => now() - interval '1 hour',
	expires_at => now() - interval '1 minute') AS e1 \gset
SELECT taskmill.enqueue('fifo-expired', 'next', task_group_id => 'g');
SELECT results_eq($$SELECT operation_id FROM taskmill.dequeue('fifo-expired', batch_size => 10)$$, ARRAY['next'],
	'FIFO.ExpiredHead: the task after an expired head is delivered');
SELECT is(tm_test.state(:e1), 'dlq', 'FIFO.ExpiredHead: the expired head went to the DLQ');

SELECT * FROM finish();
ROLLBACK;
