-- dequeue, ack, ack_many, nack, extend_visibility, requeue_from_dlq: the delivery cycle,
-- FIFO groups, the dead-letter queue and every error. Time passes by moving visible_at
-- back instead of sleeping.
\i test/regress/sql/include/setup.psql

-- Make a task's visibility timeout (or retry delay) pass.
CREATE FUNCTION pg_temp.time_passes(q text) RETURNS void LANGUAGE sql AS $$
	UPDATE taskmill.tasks SET visible_at = now() - interval '1 second'
	WHERE queue_name = q AND dlq_at IS NULL
$$;

-- Edge.EmptyQueue_Dequeue
SELECT count(*) FROM taskmill.dequeue('reg_w');

-- Lifecycle.PriorityOrdering: priority DESC, then id
SELECT count(taskmill.enqueue('reg_w', op, priority => p))
FROM (VALUES ('low', -50), ('mid1', 0), ('high', 50), ('mid2', 0)) v(op, p);
CREATE TEMP TABLE d AS SELECT * FROM taskmill.dequeue('reg_w', batch_size => 3, visibility_timeout => '1 hour');
SELECT operation_id, attempts, lease IS NOT NULL AS leased, visible_at > now() + interval '59 minutes' AS invisible_1h
FROM d ORDER BY priority DESC, id;
-- the rest of the batch: in-flight tasks are not delivered again
SELECT operation_id FROM taskmill.dequeue('reg_w', 10);
SELECT * FROM taskmill.queue_stats('reg_w');

-- ack: the task moves to task_results with its result; a second ack is stale.
SELECT taskmill.ack(id, lease, '{"sent": true}') FROM d WHERE operation_id = 'high';
SELECT taskmill.ack(id, lease) FROM d WHERE operation_id = 'high';
SELECT operation_id, attempts, result, completed_at <= now() AS completed
FROM taskmill.task_results WHERE queue_name = 'reg_w';
SELECT count(*) AS still_queued FROM taskmill.tasks t JOIN d USING (id) WHERE d.operation_id = 'high';

-- a wrong lease is stale and changes nothing
SELECT taskmill.ack(id, gen_random_uuid()) AS ack_wrong_lease,
       taskmill.nack(id, gen_random_uuid(), 'x') AS nack_wrong_lease,
       taskmill.extend_visibility(id, gen_random_uuid(), '1 minute') AS extend_wrong_lease
FROM d WHERE operation_id = 'mid1';

-- extend_visibility: heartbeat
SELECT taskmill.extend_visibility(id, lease, '2 hours') FROM d WHERE operation_id = 'mid1';
SELECT t.visible_at > now() + interval '119 minutes' AS extended FROM taskmill.tasks t JOIN d USING (id)
WHERE d.operation_id = 'mid1';

-- Worker.Retry_ExponentialBackoff: 1 s, 2 s, 4 s ... capped at 1 hour
BEGIN;
SELECT taskmill.nack(id, lease, 'boom') FROM d WHERE operation_id = 'mid1';
SELECT t.attempts, t.lease IS NULL AS lease_cleared, t.last_error, t.visible_at - now() AS backoff, t.dlq_at IS NULL AS not_dlq
FROM taskmill.tasks t JOIN d USING (id) WHERE d.operation_id = 'mid1';
COMMIT;
SELECT * FROM taskmill.queue_stats('reg_w');
-- the retrying task is not delivered before its time
SELECT operation_id FROM taskmill.dequeue('reg_w', 10);
-- time passes: mid1's retry is due, and low's and mid2's visibility timeouts have passed
SELECT pg_temp.time_passes('reg_w');
TRUNCATE d;
INSERT INTO d SELECT * FROM taskmill.dequeue('reg_w', 10);
SELECT operation_id, attempts FROM d ORDER BY operation_id;
-- Worker.Retry_PreservesAttempts: the second failure waits 2 s
BEGIN;
SELECT operation_id, taskmill.nack(id, lease, 'boom again') FROM d ORDER BY operation_id;
SELECT operation_id, attempts, visible_at - now() AS backoff FROM taskmill.tasks
WHERE queue_name = 'reg_w' ORDER BY operation_id;
COMMIT;
-- Worker.Retry_MaxAttempts: the failure of the last attempt dead-letters with the error as reason
SELECT pg_temp.time_passes('reg_w');
TRUNCATE d;
INSERT INTO d SELECT * FROM taskmill.dequeue('reg_w', 10);
SELECT operation_id, attempts FROM d ORDER BY operation_id;
SELECT operation_id, taskmill.nack(id, lease, 'final error') FROM d ORDER BY operation_id;
SELECT operation_id, attempts, dlq_at IS NOT NULL AS in_dlq, dlq_reason, last_error, lease IS NULL AS no_lease
FROM taskmill.tasks WHERE queue_name = 'reg_w' ORDER BY operation_id;
SELECT * FROM taskmill.queue_stats('reg_w');
-- DLQ.NotDequeued
SELECT pg_temp.time_passes('reg_w');
SELECT count(*) FROM taskmill.dequeue('reg_w', 10);

-- retry_delay overrides the backoff
SELECT taskmill.enqueue('reg_w2', 'op') > 0;
TRUNCATE d;
INSERT INTO d SELECT * FROM taskmill.dequeue('reg_w2');
BEGIN;
SELECT taskmill.nack(id, lease, NULL, retry_delay => '10 minutes') FROM d;
SELECT visible_at - now() AS delay, last_error IS NULL AS no_error FROM taskmill.tasks WHERE queue_name = 'reg_w2';
COMMIT;
-- the backoff is capped at one hour however many attempts
UPDATE taskmill.tasks SET attempts = 40, max_attempts = 100, visible_at = now() - interval '1 second'
WHERE queue_name = 'reg_w2';
TRUNCATE d;
INSERT INTO d SELECT * FROM taskmill.dequeue('reg_w2');
BEGIN;
SELECT taskmill.nack(id, lease, 'slow') FROM d;
SELECT attempts, visible_at - now() AS capped FROM taskmill.tasks WHERE queue_name = 'reg_w2';
COMMIT;

-- Visibility timeout: an unacked delivery comes back with a new lease; the old lease is stale.
SELECT taskmill.purge('reg_w2');
SELECT taskmill.enqueue('reg_w2', 'op', max_attempts => 2) > 0;
TRUNCATE d;
INSERT INTO d SELECT * FROM taskmill.dequeue('reg_w2', visibility_timeout => '30 seconds');
SELECT pg_temp.time_passes('reg_w2');
SELECT * FROM taskmill.queue_stats('reg_w2');
CREATE TEMP TABLE d2 AS SELECT * FROM taskmill.dequeue('reg_w2');
SELECT d2.attempts, d2.lease <> d.lease AS new_lease FROM d2, d;
SELECT taskmill.ack(id, lease) AS old_lease_ack FROM d;
-- redelivery after the last attempt's timeout goes to the DLQ instead
SELECT pg_temp.time_passes('reg_w2');
SELECT count(*) AS delivered FROM taskmill.dequeue('reg_w2');
SELECT attempts, dlq_reason FROM taskmill.tasks WHERE queue_name = 'reg_w2';
SELECT taskmill.ack(id, lease) AS stale_after_dlq FROM d2;

-- Lifecycle.ExpiredTask / DLQ.Expired: expired tasks met by dequeue go to the DLQ, and the
-- batch is filled from the tasks behind them.
SELECT count(taskmill.enqueue('reg_exp', 'old', scheduled_at => now() - interval '2 hours',
                              expires_at => now() - interval '1 hour'))
FROM generate_series(1, 3);
SELECT taskmill.enqueue('reg_exp', 'fresh') > 0;
SELECT operation_id FROM taskmill.dequeue('reg_exp', 2);
SELECT operation_id, dlq_reason, attempts FROM taskmill.tasks WHERE queue_name = 'reg_exp' ORDER BY id;

-- requeue_from_dlq: attempts back to 0, visible now, the passed expiry cleared.
SELECT taskmill.requeue_from_dlq(id) FROM taskmill.tasks
WHERE queue_name = 'reg_exp' AND dlq_at IS NOT NULL ORDER BY id LIMIT 1;
SELECT operation_id, attempts, dlq_at IS NULL AS back, dlq_reason, expires_at, visible_at <= now() AS visible
FROM taskmill.tasks WHERE queue_name = 'reg_exp' AND dlq_at IS NULL AND lease IS NULL;
SELECT * FROM taskmill.queue_stats('reg_exp');

-- Enqueue.KeyReusableAfterCompletion / KeyReusableAfterDLQ
SELECT taskmill.enqueue('reg_key', 'op', idempotency_key => 'k') > 0;
TRUNCATE d;
INSERT INTO d SELECT * FROM taskmill.dequeue('reg_key');
SELECT taskmill.ack(id, lease) FROM d;
SELECT taskmill.enqueue('reg_key', 'op', idempotency_key => 'k', max_attempts => 1) > 0 AS reused_after_completion;
TRUNCATE d;
INSERT INTO d SELECT * FROM taskmill.dequeue('reg_key');
SELECT taskmill.nack(id, lease, 'x') FROM d;
SELECT taskmill.enqueue('reg_key', 'op', idempotency_key => 'k') > 0 AS reused_after_dlq;
-- requeueing the dead-lettered one now collides with the new task's key
SELECT pg_temp.err(format('SELECT taskmill.requeue_from_dlq(%s)', id)) FROM d;

-- Lifecycle.EphemeralTask: acked, but not kept in task_results
SELECT taskmill.enqueue('reg_eph', 'op', ephemeral => true) > 0;
TRUNCATE d;
INSERT INTO d SELECT * FROM taskmill.dequeue('reg_eph');
SELECT taskmill.ack(id, lease) FROM d;
SELECT (SELECT count(*) FROM taskmill.tasks WHERE queue_name = 'reg_eph') AS tasks,
       (SELECT count(*) FROM taskmill.task_results WHERE queue_name = 'reg_eph') AS results;

-- ack_many: one statement for a batch; stale leases are skipped.
SELECT count(taskmill.enqueue('reg_many', 'op', ephemeral => i = 3)) FROM generate_series(1, 4) i;
TRUNCATE d;
INSERT INTO d SELECT * FROM taskmill.dequeue('reg_many', 4);
SELECT taskmill.ack_many(array_agg(id ORDER BY id),
                         array_agg(CASE WHEN operation_id = 'op' AND id = (SELECT max(id) FROM d)
                                        THEN gen_random_uuid() ELSE lease END ORDER BY id),
                         array_agg(jsonb_build_object('n', attempts) ORDER BY id)) AS acked
FROM d;
SELECT (SELECT count(*) FROM taskmill.tasks WHERE queue_name = 'reg_many') AS left_over,
       (SELECT count(*) FROM taskmill.task_results WHERE queue_name = 'reg_many' AND result = '{"n": 1}') AS results;
SELECT taskmill.ack_many('{}', '{}') AS none;

-- Scheduled tasks wait for their time (Lifecycle.ScheduledTask_FutureExecution, Edge.AllTasksScheduled)
SELECT taskmill.enqueue('reg_sched', 'later', scheduled_at => now() + interval '1 hour') > 0;
SELECT taskmill.enqueue('reg_sched', 'past', scheduled_at => now() - interval '1 hour') > 0;
SELECT operation_id FROM taskmill.dequeue('reg_sched', 10);
SELECT * FROM taskmill.queue_stats('reg_sched');

-- FIFO groups: only the head of a group, only while nothing of it is in flight.
SELECT count(taskmill.enqueue('reg_fifo', 'a' || i, task_group_id => 'ga')) FROM generate_series(1, 3) i;
SELECT count(taskmill.enqueue('reg_fifo', 'b' || i, task_group_id => 'gb')) FROM generate_series(1, 2) i;
SELECT taskmill.enqueue('reg_fifo', 'free') > 0;
TRUNCATE d;
INSERT INTO d SELECT * FROM taskmill.dequeue('reg_fifo', 10);
SELECT operation_id FROM d ORDER BY id;
SELECT count(*) AS nothing_while_in_flight FROM taskmill.dequeue('reg_fifo', 10);
-- FIFO.LockRelease_OnCompletion
SELECT taskmill.ack(id, lease) FROM d WHERE operation_id = 'a1';
SELECT operation_id FROM taskmill.dequeue('reg_fifo', 10);
-- FIFO.LockRelease_OnFailure: the nacked head blocks its group until its retry is due
SELECT taskmill.nack(id, lease, 'x') FROM d WHERE operation_id = 'b1';
SELECT count(*) AS blocked_by_retry FROM taskmill.dequeue('reg_fifo', 10);
UPDATE taskmill.tasks SET visible_at = now() - interval '1 second'
WHERE queue_name = 'reg_fifo' AND operation_id = 'b1';
TRUNCATE d;
INSERT INTO d SELECT * FROM taskmill.dequeue('reg_fifo', 10);
SELECT operation_id, attempts FROM d;
-- a higher-priority task joining a group in flight waits too, then goes first
SELECT taskmill.enqueue('reg_fifo', 'b-urgent', task_group_id => 'gb', priority => 90) > 0;
SELECT count(*) FROM taskmill.dequeue('reg_fifo', 10);
SELECT taskmill.ack(id, lease) FROM d;
-- FIFO.WorkerWithGroupFilter
SELECT operation_id FROM taskmill.dequeue('reg_fifo', 10, task_group_id => 'gb');
SELECT count(*) AS ga_in_flight FROM taskmill.dequeue('reg_fifo', 10, task_group_id => 'ga');
SELECT count(*) FROM taskmill.dequeue('reg_fifo', 10, task_group_id => 'nope');

-- Errors
SELECT pg_temp.err($$SELECT * FROM taskmill.dequeue(NULL)$$);
SELECT pg_temp.err($$SELECT * FROM taskmill.dequeue('')$$);
SELECT pg_temp.err($$SELECT * FROM taskmill.dequeue('reg_w', 0)$$);
SELECT pg_temp.err($$SELECT * FROM taskmill.dequeue('reg_w', 10001)$$);
SELECT pg_temp.err($$SELECT * FROM taskmill.dequeue('reg_w', 1, '-1 second')$$);
SELECT pg_temp.err($$SELECT * FROM taskmill.dequeue('reg_w', 1, '30 s', '')$$);
SELECT pg_temp.err($$SELECT taskmill.ack(NULL, gen_random_uuid())$$);
SELECT pg_temp.err($$SELECT taskmill.ack(1, NULL)$$);
SELECT pg_temp.err($$SELECT taskmill.ack(-42, gen_random_uuid())$$);
SELECT pg_temp.err($$SELECT taskmill.nack(-42, gen_random_uuid(), 'x')$$);
SELECT pg_temp.err($$SELECT taskmill.nack(1, gen_random_uuid(), 'x', '-1 s')$$);
SELECT pg_temp.err($$SELECT taskmill.extend_visibility(-42, gen_random_uuid(), '1 s')$$);
SELECT pg_temp.err($$SELECT taskmill.extend_visibility(1, gen_random_uuid(), NULL)$$);
SELECT pg_temp.err($$SELECT taskmill.extend_visibility(1, gen_random_uuid(), '-1 s')$$);
SELECT taskmill.ack_many(NULL, '{}') AS null_is_empty;
SELECT pg_temp.err($$SELECT taskmill.ack_many('{1,2}', ARRAY[gen_random_uuid()])$$);
SELECT pg_temp.err($$SELECT taskmill.ack_many('{1}', ARRAY[gen_random_uuid()], '{}')$$);
SELECT pg_temp.err($$SELECT taskmill.requeue_from_dlq(NULL)$$);
SELECT pg_temp.err($$SELECT taskmill.requeue_from_dlq(-42)$$);
SELECT regexp_replace(pg_temp.err(format('SELECT taskmill.requeue_from_dlq(%s)', min(id))), '\d+ is', 'N is')
FROM taskmill.tasks WHERE queue_name = 'reg_fifo' AND dlq_at IS NULL;

-- Worker.Stop_ReleasesQueuedTasks: release gives back a claimed, never-started delivery
SELECT taskmill.enqueue('reg_rel', 'r1') > 0;
CREATE TEMP TABLE r AS SELECT * FROM taskmill.dequeue('reg_rel', 1, '1 hour');
SELECT attempts FROM r;
SELECT taskmill.release(ARRAY(SELECT id FROM r), ARRAY(SELECT lease FROM r)) AS released;
SELECT attempts, lease IS NULL AS no_lease, visible_at <= now() AS visible
FROM taskmill.tasks WHERE id = (SELECT id FROM r);
SELECT operation_id, attempts FROM taskmill.dequeue('reg_rel', 1);
-- the old lease is stale now: skipped
SELECT taskmill.release(ARRAY(SELECT id FROM r), ARRAY(SELECT lease FROM r)) AS stale;
SELECT taskmill.release(NULL, NULL) AS null_is_empty;
SELECT pg_temp.err($$SELECT taskmill.release('{1,2}', ARRAY[gen_random_uuid()])$$);
