-- Seed section 5 at SQL level: whole task lifecycles through enqueue, dequeue, ack, nack,
-- the DLQ and requeue; time travel instead of sleeping. Plus stale-lease fencing: a worker
-- whose delivery was taken over can no longer ack, nack or extend it.
BEGIN;
\ir helpers.psql
SELECT plan(64);

-- TestLifecycle_EnqueueToCompletion
SELECT taskmill.enqueue('life-done', 'send', '{"to": "a@example.com"}') AS t_done \gset
SELECT is(tm_test.state(:t_done), 'available', 'TestLifecycle_EnqueueToCompletion: enqueued task is available');
CREATE TEMP TABLE d_done AS SELECT * FROM taskmill.dequeue('life-done', visibility_timeout => interval '30 seconds');
SELECT results_eq($$SELECT id, operation_id, payload, attempts, lease IS NOT NULL FROM d_done$$,
	format($$VALUES (%s::bigint, 'send'::text, '{"to": "a@example.com"}'::jsonb, 1, true)$$, :t_done),
	'TestLifecycle_EnqueueToCompletion: dequeue returns the task with attempts 1 and a lease');
SELECT is((SELECT lease FROM d_done), tm_test.lease(:t_done), 'TestLifecycle_EnqueueToCompletion: the returned lease is the stored one');
SELECT ok((SELECT visible_at BETWEEN now() + interval '30 seconds' AND clock_timestamp() + interval '30 seconds'
           FROM taskmill.tasks WHERE id = :t_done), 'TestLifecycle_EnqueueToCompletion: hidden for the visibility timeout');
SELECT is(tm_test.state(:t_done), 'in_flight', 'TestLifecycle_EnqueueToCompletion: task in flight');
SELECT is((SELECT count(*) FROM taskmill.dequeue('life-done')), 0::bigint,
	'TestLifecycle_EnqueueToCompletion: an in-flight task is not delivered twice');
SELECT is(taskmill.ack(:t_done, (SELECT lease FROM d_done), '{"sent": true}'), true,
	'TestLifecycle_EnqueueToCompletion: ack returns true');
SELECT results_eq(format('SELECT queue_name, operation_id, payload, attempts, result FROM taskmill.task_results WHERE id = %s', :t_done),
	$$VALUES ('life-done'::text, 'send'::text, '{"to": "a@example.com"}'::jsonb, 1, '{"sent": true}'::jsonb)$$,
	'TestLifecycle_EnqueueToCompletion: task in results with its payload, attempts and result');
SELECT is(tm_test.counts('life-done'), 'available=0 in_flight=0 scheduled=0 dlq=0 results=1',
	'TestLifecycle_EnqueueToCompletion: not in the queue any more');

-- TestLifecycle_EnqueueToRetryToCompletion: fails once, then succeeds; attempts 2 in results.
SELECT taskmill.enqueue('life-retry', 'op') AS t_retry \gset
SELECT tm_test.take('life-retry');
SELECT is(taskmill.nack(:t_retry, tm_test.lease(:t_retry), 'temporary failure'), 'retry',
	'TestLifecycle_EnqueueToRetryToCompletion: first failure is retried');
SELECT results_eq(format('SELECT attempts, lease IS NULL, last_error, dlq_at IS NULL FROM taskmill.tasks WHERE id = %s', :t_retry),
	$$VALUES (1, true, 'temporary failure'::text, true)$$,
	'TestLifecycle_EnqueueToRetryToCompletion: nack clears the lease and records last_error');
SELECT is(tm_test.state(:t_retry), 'scheduled', 'TestLifecycle_EnqueueToRetryToCompletion: waiting for its retry');
SELECT is(tm_test.take('life-retry'), NULL, 'TestLifecycle_EnqueueToRetryToCompletion: not delivered before the backoff passes');
SELECT tm_test.time_passes(:t_retry);
SELECT is(tm_test.take_and_ack('life-retry'), :t_retry::bigint, 'TestLifecycle_EnqueueToRetryToCompletion: delivered again and acked');
SELECT is((SELECT attempts FROM taskmill.task_results WHERE id = :t_retry), 2,
	'TestLifecycle_EnqueueToRetryToCompletion: attempts = 2 in results');

-- TestWorker_Retry_ExponentialBackoff at SQL level: 1 s, 2 s, 4 s; retry_delay overrides.
SELECT taskmill.enqueue('life-backoff', 'op', max_attempts => 10) AS t_bo \gset
CREATE TEMP TABLE backoff (attempt int, delay interval);
DO $$
DECLARE
	t record;
BEGIN
	FOR i IN 1..3 LOOP
		SELECT id, lease, attempts INTO t FROM taskmill.dequeue('life-backoff');
		PERFORM taskmill.nack(t.id, t.lease, 'fail');
		INSERT INTO backoff
		SELECT t.attempts, visible_at - now() FROM taskmill.tasks WHERE id = t.id;
		PERFORM tm_test.time_passes(t.id);
	END LOOP;
END $$;
SELECT ok((SELECT bool_and(delay BETWEEN interval '1 second' * 2 ^ (attempt - 1)
                               AND clock_timestamp() - now() + interval '1 second' * 2 ^ (attempt - 1))
           AND count(*) = 3 FROM backoff),
	'TestWorker_Retry_ExponentialBackoff: retry delays are 1 s, 2 s, 4 s');
SELECT tm_test.take('life-backoff');
SELECT is(taskmill.nack(:t_bo, tm_test.lease(:t_bo), 'fail', retry_delay => interval '10 minutes'), 'retry',
	'TestWorker_Retry_ExponentialBackoff: nack with retry_delay');
SELECT ok((SELECT visible_at BETWEEN now() + interval '10 minutes' AND clock_timestamp() + interval '10 minutes'
           FROM taskmill.tasks WHERE id = :t_bo), 'TestWorker_Retry_ExponentialBackoff: retry_delay replaces the backoff');
SELECT is((SELECT attempts FROM taskmill.tasks WHERE id = :t_bo), 4,
	'TestWorker_Retry_PreservesAttempts: attempts counted across retries');

-- TestLifecycle_EnqueueToDLQ: always fails, max_attempts 3.
SELECT taskmill.enqueue('life-dlq', 'op', max_attempts => 3) AS t_dlq \gset
CREATE TEMP TABLE dlq_outcomes (k serial, outcome text);
DO $$
DECLARE
	t record;
BEGIN
	FOR i IN 1..4 LOOP
		SELECT id, lease INTO t FROM taskmill.dequeue('life-dlq');
		EXIT WHEN t.id IS NULL;
		INSERT INTO dlq_outcomes (outcome) VALUES (taskmill.nack(t.id, t.lease, 'always fails'));
		PERFORM tm_test.time_passes(t.id);
	END LOOP;
END $$;
SELECT is((SELECT string_agg(outcome, ',' ORDER BY k) FROM dlq_outcomes), 'retry,retry,dlq',
	'TestLifecycle_EnqueueToDLQ: two retries, then the DLQ after the third failure');
SELECT is(tm_test.state(:t_dlq), 'dlq', 'TestLifecycle_EnqueueToDLQ: task in DLQ');
SELECT is((SELECT dlq_reason FROM taskmill.tasks WHERE id = :t_dlq), 'always fails',
	'TestLifecycle_EnqueueToDLQ: the last error is the DLQ reason');

-- TestLifecycle_DLQToRequeueToCompletion
SELECT taskmill.requeue_from_dlq(:t_dlq);
SELECT is(tm_test.state(:t_dlq), 'available', 'TestLifecycle_DLQToRequeueToCompletion: requeued task is available');
SELECT is(tm_test.take_and_ack('life-dlq'), :t_dlq::bigint, 'TestLifecycle_DLQToRequeueToCompletion: processed after requeue');
SELECT is(tm_test.counts('life-dlq'), 'available=0 in_flight=0 scheduled=0 dlq=0 results=1',
	'TestLifecycle_DLQToRequeueToCompletion: completed, DLQ empty');
SELECT is((SELECT attempts FROM taskmill.task_results WHERE id = :t_dlq), 1,
	'TestLifecycle_DLQToRequeueToCompletion: attempts counted from the requeue');

-- TestLifecycle_EphemeralTask: deleted on ack, never in results.
SELECT taskmill.enqueue('life-eph', 'op', ephemeral => true) AS t_eph \gset
SELECT is(tm_test.take_and_ack('life-eph'), :t_eph::bigint, 'TestLifecycle_EphemeralTask: processed');
SELECT is(tm_test.state(:t_eph), 'gone', 'TestLifecycle_EphemeralTask: task deleted, NOT in results');
SELECT is(tm_test.counts('life-eph'), 'available=0 in_flight=0 scheduled=0 dlq=0 results=0',
	'TestLifecycle_EphemeralTask: queue and results empty');

-- TestLifecycle_PriorityOrdering: low (-50) enqueued first, high (50) still goes first.
SELECT taskmill.enqueue('life-prio', 'low', priority => -50) AS t_low \gset
SELECT taskmill.enqueue('life-prio', 'mid') AS t_mid \gset
SELECT taskmill.enqueue('life-prio', 'high', priority => 50) AS t_high \gset
SELECT is(tm_test.take_and_ack('life-prio'), :t_high::bigint, 'TestLifecycle_PriorityOrdering: high processed first');
SELECT is(tm_test.take_and_ack('life-prio'), :t_mid::bigint, 'TestLifecycle_PriorityOrdering: then default priority');
SELECT is(tm_test.take_and_ack('life-prio'), :t_low::bigint, 'TestLifecycle_PriorityOrdering: low last');
SELECT taskmill.enqueue('life-prio2', 'op', jsonb_build_object('n', i)) FROM generate_series(1, 3) i;
SELECT results_eq($$SELECT payload->>'n' FROM taskmill.dequeue('life-prio2', batch_size => 3) ORDER BY id$$,
	ARRAY['1', '2', '3'], 'TestLifecycle_PriorityOrdering: equal priorities all come in one batch');

-- TestLifecycle_ScheduledTask_FutureExecution: scheduled +5 s; time travel instead of waiting.
SELECT taskmill.enqueue('life-sched', 'op', scheduled_at => now() + interval '5 seconds') AS t_sched \gset
SELECT is(tm_test.take('life-sched'), NULL, 'TestLifecycle_ScheduledTask_FutureExecution: not delivered before its time');
SELECT is(tm_test.state(:t_sched), 'scheduled', 'TestLifecycle_ScheduledTask_FutureExecution: task is scheduled');
UPDATE taskmill.tasks SET scheduled_at = scheduled_at - interval '6 seconds', visible_at = visible_at - interval '6 seconds'
WHERE id = :t_sched;
SELECT is(tm_test.take_and_ack('life-sched'), :t_sched::bigint,
	'TestLifecycle_ScheduledTask_FutureExecution: delivered once its time has come');

-- TestLifecycle_ExpiredTask: expires_at in the past goes to the DLQ at the first dequeue.
SELECT taskmill.enqueue('life-exp', 'op', scheduled_at => now() - interval '10 minutes',
	expires_at => now() - interval '1 minute') AS t_exp \gset
SELECT taskmill.enqueue('life-exp', 'fresh') AS t_fresh \gset
SELECT results_eq($$SELECT operation_id FROM taskmill.dequeue('life-exp', batch_size => 10)$$, ARRAY['fresh'],
	'TestLifecycle_ExpiredTask: dequeue skips the expired task and returns the fresh one');
SELECT is(tm_test.state(:t_exp), 'dlq', 'TestLifecycle_ExpiredTask: expired task in DLQ immediately');
-- A task that expires while waiting for its retry is dead-lettered, not redelivered.
SELECT taskmill.enqueue('life-exp2', 'op', expires_at => now() + interval '1 hour') AS t_exp2 \gset
SELECT tm_test.take('life-exp2');
SELECT taskmill.nack(:t_exp2, tm_test.lease(:t_exp2), 'fail');
UPDATE taskmill.tasks SET scheduled_at = now() - interval '3 hours', expires_at = now() - interval '1 second',
	visible_at = now() - interval '1 second' WHERE id = :t_exp2;
SELECT is(tm_test.take('life-exp2'), NULL, 'TestLifecycle_ExpiredTask: a retry past expires_at is not delivered');
SELECT is(tm_test.state(:t_exp2), 'dlq', 'TestLifecycle_ExpiredTask: it goes to the DLQ instead');

-- Visibility timeout: an unacked delivery comes back (TestWorker_VisibilityTimeout at SQL level).
SELECT taskmill.enqueue('life-vt', 'op') AS t_vt \gset
SELECT tm_test.take('life-vt');
SELECT is(tm_test.take('life-vt'), NULL, 'TestWorker_VisibilityTimeout: hidden while the timeout runs');
SELECT tm_test.time_passes(:t_vt);
SELECT is(tm_test.state(:t_vt), 'available', 'TestWorker_VisibilityTimeout: available once the timeout passed');

-- Stale-lease fencing: delivery 1 times out, delivery 2 takes over; delivery 1's lease is dead.
SELECT lease AS old_lease FROM taskmill.tasks WHERE id = :t_vt \gset
SELECT is(tm_test.take('life-vt'), :t_vt::bigint, 'Lease.Fencing: redelivered after the timeout');
SELECT lease AS new_lease, visible_at AS new_visible FROM taskmill.tasks WHERE id = :t_vt \gset
SELECT isnt(:'new_lease'::uuid, :'old_lease'::uuid, 'Lease.Fencing: each delivery has a fresh lease');
SELECT is((SELECT attempts FROM taskmill.tasks WHERE id = :t_vt), 2, 'Lease.Fencing: attempts 2');
SELECT is(taskmill.ack(:t_vt, :'old_lease'), false, 'Lease.Fencing: ack with the old lease returns false');
SELECT is(taskmill.nack(:t_vt, :'old_lease', 'late failure'), 'stale', 'Lease.Fencing: nack with the old lease returns stale');
SELECT is(taskmill.extend_visibility(:t_vt, :'old_lease', interval '1 hour'), false,
	'Lease.Fencing: extend_visibility with the old lease returns false');
SELECT results_eq(format('SELECT lease, visible_at, attempts, last_error, dlq_at FROM taskmill.tasks WHERE id = %s', :t_vt),
	format($$VALUES (%L::uuid, %L::timestamptz, 2, NULL::text, NULL::timestamptz)$$, :'new_lease', :'new_visible'),
	'Lease.Fencing: the stale ack, nack and extend changed nothing');
SELECT is(tm_test.state(:t_vt), 'in_flight', 'Lease.Fencing: the current delivery is still in flight');
SELECT is(taskmill.extend_visibility(:t_vt, :'new_lease', interval '1 hour'), true,
	'Lease.Fencing: extend_visibility with the current lease returns true');
SELECT ok((SELECT visible_at BETWEEN now() + interval '1 hour' AND clock_timestamp() + interval '1 hour'
           FROM taskmill.tasks WHERE id = :t_vt), 'Lease.Fencing: extend_visibility moves visible_at to now + interval');
SELECT is(taskmill.ack(:t_vt, :'new_lease'), true, 'Lease.Fencing: ack with the current lease completes it');
SELECT is(taskmill.ack(:t_vt, :'new_lease'), false, 'Lease.Fencing: a second ack of a completed task returns false');

-- ack_many: a worker's batched acks; stale leases are skipped, the others complete.
SELECT taskmill.enqueue('life-many', 'op', jsonb_build_object('i', i)) FROM generate_series(1, 3) i;
CREATE TEMP TABLE many AS SELECT id, lease FROM taskmill.dequeue('life-many', batch_size => 3);
SELECT is(taskmill.ack_many((SELECT array_agg(id ORDER BY id) FROM many),
	(SELECT array_agg(CASE WHEN id = (SELECT max(id) FROM many) THEN gen_random_uuid() ELSE lease END ORDER BY id) FROM many),
	(SELECT array_agg(jsonb_build_object('done', id) ORDER BY id) FROM many)), 2,
	'Lifecycle.AckMany: returns how many leases were current (2 of 3)');
SELECT is(tm_test.counts('life-many'), 'available=0 in_flight=1 scheduled=0 dlq=0 results=2',
	'Lifecycle.AckMany: the two current deliveries completed, the stale one still in flight');
SELECT is((SELECT count(*) FROM taskmill.task_results r JOIN many m USING (id) WHERE r.result = jsonb_build_object('done', m.id)),
	2::bigint, 'Lifecycle.AckMany: each result stored with its task');
SELECT is(taskmill.ack_many('{}', '{}'), 0, 'Lifecycle.AckMany: an empty batch acks nothing');
SELECT throws_ok($$SELECT taskmill.ack_many(ARRAY[1, 2]::bigint[], ARRAY[gen_random_uuid()])$$, '22023', NULL,
	'Lifecycle.AckMany: arrays of different lengths raise 22023');

-- TestWorker_BatchSize at SQL level: dequeue hands out at most batch_size tasks.
SELECT taskmill.enqueue('life-batch', 'op') FROM generate_series(1, 10);
SELECT is((SELECT count(*) FROM taskmill.dequeue('life-batch', batch_size => 3)), 3::bigint,
	'TestWorker_BatchSize: batch_size 3 of 10 available returns 3');
SELECT is((SELECT count(*) FROM taskmill.dequeue('life-batch', batch_size => 100)), 7::bigint,
	'TestWorker_BatchSize: a larger batch returns the 7 left');

-- TestRace_VisibilityTimeout_Reprocess at SQL level: a heartbeat (extend_visibility) keeps a
-- long-running delivery from being redelivered when its first timeout passes.
SELECT taskmill.enqueue('life-heartbeat', 'op') AS t_hb \gset
SELECT lease AS hb_lease FROM taskmill.dequeue('life-heartbeat', visibility_timeout => interval '30 seconds') \gset
SELECT is(taskmill.extend_visibility(:t_hb, :'hb_lease', interval '10 minutes'), true,
	'TestRace_VisibilityTimeout_Reprocess: heartbeat while the handler runs');
UPDATE taskmill.tasks SET visible_at = visible_at - interval '31 seconds' WHERE id = :t_hb;
SELECT is(tm_test.take('life-heartbeat'), NULL,
	'TestRace_VisibilityTimeout_Reprocess: not redelivered once the original 30 s have passed');
SELECT is(taskmill.ack(:t_hb, :'hb_lease'), true, 'TestRace_VisibilityTimeout_Reprocess: the handler''s ack still completes it');

SELECT * FROM finish();
ROLLBACK;
