-- Waiting tasks outside the dequeue index (waiting, tasks_waiting_idx), FIFO group tasks
-- parked behind their group's head and woken when it leaves, and ack_dequeue (acks and
-- nacks the previous batch and claims the next in one call). Time passes by moving
-- visible_at / parked_until back instead of sleeping.
\i test/regress/sql/include/setup.psql

-- Whether a task is in tasks_dequeue_idx (its predicate, 10_schema.sql).
CREATE FUNCTION pg_temp.ready(t taskmill.tasks) RETURNS boolean LANGUAGE sql AS $$
	SELECT t.dlq_at IS NULL AND t.lease IS NULL AND NOT t.waiting
$$;

-- Drain a queue one dequeue(q, 10) + ack_many at a time; returns the delivery order.
CREATE FUNCTION pg_temp.drain(q text) RETURNS text[] LANGUAGE plpgsql AS $$
DECLARE
	got text[] := '{}';
	ids bigint[];
	leases uuid[];
	ops text[];
	rounds int := 0;
BEGIN
	LOOP
		SELECT array_agg(id ORDER BY priority DESC, id), array_agg(lease ORDER BY priority DESC, id),
			   array_agg(operation_id ORDER BY priority DESC, id)
		INTO ids, leases, ops FROM taskmill.dequeue(q, 10);
		EXIT WHEN ids IS NULL;
		got := got || ops;
		PERFORM taskmill.ack_many(ids, leases);
		rounds := rounds + 1;
		EXIT WHEN rounds > 1000;
	END LOOP;
	RETURN got;
END
$$;

-- FIFO.SingleGroup_Ordering under parking: two groups interleaved, one ungrouped task;
-- every dequeue delivers at most one task per group, in enqueue order.
SELECT count(taskmill.enqueue('reg_fifo', g || i, task_group_id => g))
FROM generate_series(1, 6) i, (VALUES ('a'), ('b')) v(g);
SELECT count(taskmill.enqueue('reg_fifo', 'free'));
CREATE TEMP TABLE d AS SELECT * FROM taskmill.dequeue('reg_fifo', 10);
SELECT operation_id FROM d ORDER BY id;
-- the tasks behind each in-flight head are parked: out of tasks_dequeue_idx
SELECT task_group_id, count(*) FILTER (WHERE waiting) AS parked,
	   count(*) FILTER (WHERE waiting AND parked_until > now()) AS recheck_later,
	   count(*) FILTER (WHERE lease IS NOT NULL) AS in_flight
FROM taskmill.tasks WHERE queue_name = 'reg_fifo' GROUP BY 1 ORDER BY 1;
-- stats still count parked tasks as available (their visible_at is untouched)
SELECT available, in_flight, scheduled FROM taskmill.queue_stats('reg_fifo');
-- Edge.EmptyQueue_Dequeue of blocked groups: nothing, and nothing parked twice
SELECT count(*) FROM taskmill.dequeue('reg_fifo', 10);
-- FIFO.LockRelease_OnCompletion: the ack wakes each group's next head at once
SELECT taskmill.ack_many(array_agg(id), array_agg(lease)) FROM d;
SELECT operation_id, waiting, parked_until IS NULL AS unparked
FROM taskmill.tasks WHERE queue_name = 'reg_fifo' AND NOT waiting ORDER BY id;
SELECT pg_temp.drain('reg_fifo');
DROP TABLE d;

-- FIFO.Priority_WithinGroup: a higher-priority task enqueued behind a parked group
-- becomes its head, and is delivered before the parked ones once the group is free.
SELECT count(taskmill.enqueue('reg_fifo', 'p' || i, task_group_id => 'g')) FROM generate_series(1, 3) i;
CREATE TEMP TABLE d AS SELECT * FROM taskmill.dequeue('reg_fifo', 10);
SELECT operation_id FROM d;
SELECT count(taskmill.enqueue('reg_fifo', 'urgent', priority => 10, task_group_id => 'g'));
SELECT count(*) FROM taskmill.dequeue('reg_fifo', 10);
SELECT taskmill.ack(id, lease) FROM d;
SELECT pg_temp.drain('reg_fifo');
DROP TABLE d;

-- FIFO.LockRelease_OnFailure: a head dead-lettered by nack wakes the next head
SELECT count(taskmill.enqueue('reg_fifo', 'f' || i, task_group_id => 'g', max_attempts => 1))
FROM generate_series(1, 3) i;
CREATE TEMP TABLE d AS SELECT * FROM taskmill.dequeue('reg_fifo', 10);
SELECT operation_id FROM d;
SELECT taskmill.nack(id, lease, 'boom') FROM d;
SELECT operation_id FROM taskmill.dequeue('reg_fifo', 10);
DELETE FROM taskmill.tasks WHERE queue_name = 'reg_fifo' AND dlq_at IS NOT NULL;
-- a head removed by hand wakes nobody: the parked task is looked at again at parked_until
DELETE FROM taskmill.tasks WHERE queue_name = 'reg_fifo' AND lease IS NOT NULL;
SELECT count(*) FROM taskmill.dequeue('reg_fifo', 10);
UPDATE taskmill.tasks SET parked_until = now() - interval '1 second' WHERE queue_name = 'reg_fifo';
SELECT operation_id FROM taskmill.dequeue('reg_fifo', 10);
DELETE FROM taskmill.tasks WHERE queue_name = 'reg_fifo';
DROP TABLE d;

-- Waiting tasks: scheduled for later and waiting for a retry are outside tasks_dequeue_idx
SELECT count(taskmill.enqueue('reg_wait', 'later', scheduled_at => now() + interval '1 hour'));
SELECT count(taskmill.enqueue_arrays('reg_wait', ARRAY['later_b1', 'now_b2'],
	scheduled_ats => ARRAY[now() + interval '1 hour', NULL]));
SELECT count(taskmill.enqueue_batch('reg_wait', jsonb_build_array(jsonb_build_object('operation_id', 'later_j',
	'scheduled_at', now() + interval '1 hour'))));
-- the SQL INSERT (a caller's key) too
SELECT count(taskmill.enqueue('reg_wait', 'later_key', scheduled_at => now() + interval '1 hour', idempotency_key => 'k1'));
SELECT operation_id, waiting, pg_temp.ready(t) AS in_dequeue_idx FROM taskmill.tasks t WHERE queue_name = 'reg_wait' ORDER BY id;
CREATE TEMP TABLE d AS SELECT * FROM taskmill.dequeue('reg_wait', 10);
SELECT operation_id FROM d;
SELECT taskmill.nack(id, lease, 'later please', interval '1 hour') FROM d;
-- nothing else is available
SELECT count(*) FROM taskmill.dequeue('reg_wait', 10);
SELECT operation_id, waiting, pg_temp.ready(t) AS in_dequeue_idx, attempts FROM taskmill.tasks t WHERE queue_name = 'reg_wait' ORDER BY id;
SELECT available, scheduled, retrying FROM taskmill.queue_stats('reg_wait');
-- promoted when due: their visible_at passes, and priority still orders the batch
UPDATE taskmill.tasks SET visible_at = now() - interval '1 second', priority = 5
WHERE queue_name = 'reg_wait' AND operation_id = 'later';
UPDATE taskmill.tasks SET visible_at = now() - interval '1 second'
WHERE queue_name = 'reg_wait' AND operation_id IN ('now_b2', 'later_key');
SELECT count(taskmill.enqueue('reg_wait', 'fresh'));
SELECT operation_id, attempts, waiting FROM taskmill.dequeue('reg_wait', 10) ORDER BY priority DESC, id;
SELECT operation_id, pg_temp.ready(t) AS in_dequeue_idx FROM taskmill.tasks t WHERE queue_name = 'reg_wait' AND lease IS NULL ORDER BY id;
DELETE FROM taskmill.tasks WHERE queue_name = 'reg_wait';
DROP TABLE d;

-- ack_dequeue: the previous batch acked (results kept) and nacked, the next claimed,
-- in one call
SELECT count(taskmill.enqueue('reg_ad', 'ad' || i)) FROM generate_series(1, 5) i;
CREATE TEMP TABLE d AS SELECT * FROM taskmill.ack_dequeue('reg_ad', 2);
SELECT operation_id FROM d ORDER BY id;
CREATE TEMP TABLE d2 AS
SELECT * FROM taskmill.ack_dequeue('reg_ad', 2, '30 seconds',
	(SELECT array_agg(id ORDER BY id) FROM d WHERE operation_id = 'ad1'),
	(SELECT array_agg(lease ORDER BY id) FROM d WHERE operation_id = 'ad1'),
	ARRAY['{"ok": 1}'::jsonb],
	failed_ids => (SELECT array_agg(id) FROM d WHERE operation_id = 'ad2'),
	failed_leases => (SELECT array_agg(lease) FROM d WHERE operation_id = 'ad2'),
	errors => ARRAY['bad']);
SELECT operation_id FROM d2 ORDER BY id;
SELECT operation_id, result FROM taskmill.task_results WHERE queue_name = 'reg_ad';
SELECT operation_id, attempts, last_error, waiting FROM taskmill.tasks
WHERE queue_name = 'reg_ad' AND operation_id = 'ad2';
-- Concurrency.LeaseFencing: a lease that timed out and was redelivered is stale; the
-- stale ack changes nothing, the claim still happens
UPDATE taskmill.tasks SET visible_at = now() - interval '1 second' WHERE id IN (SELECT id FROM d2);
CREATE TEMP TABLE d3 AS SELECT * FROM taskmill.ack_dequeue('reg_ad', 5);
SELECT operation_id, attempts FROM d3 ORDER BY id;
SELECT count(*) AS claimed FROM taskmill.ack_dequeue('reg_ad', 5, NULL,
	(SELECT array_agg(id) FROM d2), (SELECT array_agg(lease) FROM d2));
SELECT count(*) AS redelivered_still_held FROM taskmill.tasks t JOIN d3 USING (id, lease);
SELECT count(*) AS results FROM taskmill.task_results WHERE queue_name = 'reg_ad';
-- bad input
SELECT pg_temp.err($$SELECT * FROM taskmill.ack_dequeue('reg_ad', 1, NULL, ARRAY[1::bigint], ARRAY[]::uuid[])$$);
SELECT pg_temp.err($$SELECT * FROM taskmill.ack_dequeue('reg_ad', 1, NULL, NULL, NULL, NULL, ARRAY[1::bigint], NULL)$$);
SELECT pg_temp.err($$SELECT * FROM taskmill.ack_dequeue('reg_ad', 1, NULL, NULL, NULL, NULL, ARRAY[1::bigint], ARRAY[gen_random_uuid()], ARRAY['a', 'b'])$$);
SELECT pg_temp.err($$SELECT * FROM taskmill.ack_dequeue('reg_ad', 0)$$);
SELECT pg_temp.err($$SELECT * FROM taskmill.ack_dequeue(NULL)$$);
