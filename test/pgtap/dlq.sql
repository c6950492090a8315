-- Seed section 8 at SQL level: how tasks reach the dead-letter queue, what it records, and
-- how they leave it.
BEGIN;
\ir helpers.psql
SELECT plan(39);

-- TestDLQ_MaxAttemptsExceeded: max_attempts 2, fail twice.
SELECT taskmill.enqueue('dlq-max', 'op', max_attempts => 2) AS t_max \gset
SELECT is(tm_test.take('dlq-max'), :t_max::bigint, 'TestDLQ_MaxAttemptsExceeded: first delivery');
SELECT is(taskmill.nack(:t_max, tm_test.lease(:t_max), 'first failure'), 'retry',
	'TestDLQ_MaxAttemptsExceeded: first failure is retried');
SELECT is(tm_test.state(:t_max), 'scheduled', 'TestDLQ_MaxAttemptsExceeded: waiting for its retry, not in the DLQ');
SELECT tm_test.time_passes(:t_max);
SELECT is(tm_test.take('dlq-max'), :t_max::bigint, 'TestDLQ_MaxAttemptsExceeded: second delivery');
SELECT is(taskmill.nack(:t_max, tm_test.lease(:t_max), 'second failure'), 'dlq',
	'TestDLQ_MaxAttemptsExceeded: second failure dead-letters it');
SELECT results_eq(format('SELECT dlq_at IS NOT NULL, attempts, lease IS NULL FROM taskmill.tasks WHERE id = %s', :t_max),
	$$VALUES (true, 2, true)$$, 'TestDLQ_MaxAttemptsExceeded: task in DLQ with attempts 2 and no lease');
SELECT is(tm_test.counts('dlq-max'), 'available=0 in_flight=0 scheduled=0 dlq=1 results=0',
	'TestDLQ_MaxAttemptsExceeded: nothing else in the queue, nothing in results');

-- TestDLQ_Expired: expires_at in the past (scheduled before it, so the input is valid).
SELECT taskmill.enqueue('dlq-expired', 'op', scheduled_at => now() - interval '2 hours',
	expires_at => now() - interval '1 hour') AS t_exp \gset
SELECT is((SELECT count(*) FROM taskmill.dequeue('dlq-expired', batch_size => 10)), 0::bigint,
	'TestDLQ_Expired: dequeue does not return an expired task');
SELECT is(tm_test.state(:t_exp), 'dlq', 'TestDLQ_Expired: the expired task went to the DLQ');
SELECT matches((SELECT dlq_reason FROM taskmill.tasks WHERE id = :t_exp), 'expired',
	'TestDLQ_Expired: dlq_reason says expired');
SELECT is((SELECT attempts FROM taskmill.tasks WHERE id = :t_exp), 0,
	'TestDLQ_Expired: the expired task was never delivered');

-- TestDLQ_Reason_Error: the handler's error becomes the DLQ reason.
SELECT taskmill.enqueue('dlq-reason', 'op', max_attempts => 1) AS t_err \gset
SELECT tm_test.take('dlq-reason');
SELECT is(taskmill.nack(:t_err, tm_test.lease(:t_err), 'smtp: connection refused (550)'), 'dlq',
	'TestDLQ_Reason_Error: failure at max_attempts dead-letters');
SELECT matches((SELECT dlq_reason FROM taskmill.tasks WHERE id = :t_err), 'smtp: connection refused \(550\)',
	'TestDLQ_Reason_Error: dlq_reason contains the error');
SELECT matches((SELECT last_error FROM taskmill.tasks WHERE id = :t_err), 'smtp: connection refused',
	'TestDLQ_Reason_Error: last_error records the error too');

-- TestDLQ_Reason_Panic: at SQL level a panic is a nack whose error carries the panic text.
SELECT taskmill.enqueue('dlq-reason', 'op_panic', max_attempts => 1) AS t_panic \gset
SELECT tm_test.take('dlq-reason');
SELECT is(taskmill.nack(:t_panic, tm_test.lease(:t_panic),
	E'panic: runtime error: index out of range [3] with length 2\ngoroutine 7 [running]:'), 'dlq',
	'TestDLQ_Reason_Panic: panic nack at max_attempts dead-letters');
SELECT matches((SELECT dlq_reason FROM taskmill.tasks WHERE id = :t_panic), 'panic: runtime error: index out of range',
	'TestDLQ_Reason_Panic: dlq_reason contains the panic information');
SELECT matches((SELECT dlq_reason FROM taskmill.tasks WHERE id = :t_panic), 'goroutine 7',
	'TestDLQ_Reason_Panic: a multi-line reason is kept whole');

-- TestDLQ_Stats: three tasks in the DLQ, one still available.
SELECT taskmill.enqueue('dlq-stats', 'op', max_attempts => 1) FROM generate_series(1, 4);
SELECT taskmill.nack(id, lease, 'fail') FROM taskmill.dequeue('dlq-stats', batch_size => 3);
SELECT results_eq($$SELECT in_dlq, available, in_flight FROM taskmill.queue_stats('dlq-stats')$$,
	$$VALUES (3::bigint, 1::bigint, 0::bigint)$$, 'TestDLQ_Stats: in_dlq = 3, the other task still available');

-- TestDLQ_NotDequeued: DLQ tasks are never delivered, even when their visible_at has passed.
SELECT taskmill.enqueue('dlq-notdeq', 'op', max_attempts => 1) FROM generate_series(1, 3);
SELECT taskmill.nack(id, lease, 'fail') FROM taskmill.dequeue('dlq-notdeq', batch_size => 3);
UPDATE taskmill.tasks SET visible_at = now() - interval '1 hour' WHERE queue_name = 'dlq-notdeq';
SELECT is((SELECT count(*) FROM taskmill.dequeue('dlq-notdeq', batch_size => 10)), 0::bigint,
	'TestDLQ_NotDequeued: dequeue returns nothing');
SELECT is(tm_test.counts('dlq-notdeq'), 'available=0 in_flight=0 scheduled=0 dlq=3 results=0',
	'TestDLQ_NotDequeued: all three stay in the DLQ');

-- TestDLQ_RequeueSuccess: requeue, then process to completion.
SELECT taskmill.enqueue('dlq-requeue', 'op', '{"n": 1}', max_attempts => 1) AS t_rq \gset
SELECT tm_test.take('dlq-requeue');
SELECT taskmill.nack(:t_rq, tm_test.lease(:t_rq), 'fail');
SELECT is(tm_test.state(:t_rq), 'dlq', 'TestDLQ_RequeueSuccess: task in DLQ');
SELECT lives_ok(format('SELECT taskmill.requeue_from_dlq(%s)', :t_rq), 'TestDLQ_RequeueSuccess: requeue_from_dlq succeeds');
SELECT is(tm_test.state(:t_rq), 'available', 'TestDLQ_RequeueSuccess: task available again');
SELECT is(tm_test.take_and_ack('dlq-requeue'), :t_rq::bigint, 'TestDLQ_RequeueSuccess: requeued task delivered and acked');
SELECT is(tm_test.state(:t_rq), 'completed', 'TestDLQ_RequeueSuccess: task completed, in results');

-- TestDLQ_RequeueResetsAttempts: attempts 3 in the DLQ, 0 after requeue.
SELECT taskmill.enqueue('dlq-reset', 'op', max_attempts => 3) AS t_reset \gset
SELECT tm_test.take('dlq-reset');
SELECT taskmill.nack(:t_reset, tm_test.lease(:t_reset), 'e1');
SELECT tm_test.time_passes(:t_reset);
SELECT tm_test.take('dlq-reset');
SELECT taskmill.nack(:t_reset, tm_test.lease(:t_reset), 'e2');
SELECT tm_test.time_passes(:t_reset);
SELECT tm_test.take('dlq-reset');
SELECT is(taskmill.nack(:t_reset, tm_test.lease(:t_reset), 'e3'), 'dlq', 'TestDLQ_RequeueResetsAttempts: third failure dead-letters');
SELECT is((SELECT attempts FROM taskmill.tasks WHERE id = :t_reset), 3, 'TestDLQ_RequeueResetsAttempts: attempts = 3 in the DLQ');
SELECT taskmill.requeue_from_dlq(:t_reset);
SELECT results_eq(format('SELECT attempts, dlq_at IS NULL, dlq_reason IS NULL, lease IS NULL FROM taskmill.tasks WHERE id = %s', :t_reset),
	$$VALUES (0, true, true, true)$$, 'TestDLQ_RequeueResetsAttempts: attempts 0, dlq_at and dlq_reason cleared');
SELECT ok((SELECT visible_at <= clock_timestamp() FROM taskmill.tasks WHERE id = :t_reset),
	'TestDLQ_RequeueResetsAttempts: visible now');
SELECT is(tm_test.take('dlq-reset'), :t_reset::bigint, 'TestDLQ_RequeueResetsAttempts: delivered again');
SELECT is((SELECT attempts FROM taskmill.tasks WHERE id = :t_reset), 1,
	'TestDLQ_RequeueResetsAttempts: the new delivery counts from 1');

-- Redelivery after a visibility timeout, past max_attempts, goes to the DLQ (docs/sql-api.md).
SELECT taskmill.enqueue('dlq-redeliver', 'op', max_attempts => 1) AS t_crash \gset
SELECT is(tm_test.take('dlq-redeliver'), :t_crash::bigint, 'DLQ.RedeliveryPastMaxAttempts: delivered once');
SELECT tm_test.time_passes(:t_crash);
SELECT is((SELECT count(*) FROM taskmill.dequeue('dlq-redeliver', batch_size => 10)), 0::bigint,
	'DLQ.RedeliveryPastMaxAttempts: not redelivered after its visibility timeout');
SELECT is(tm_test.state(:t_crash), 'dlq', 'DLQ.RedeliveryPastMaxAttempts: dead-lettered instead');
SELECT ok((SELECT dlq_reason IS NOT NULL AND dlq_reason <> '' FROM taskmill.tasks WHERE id = :t_crash),
	'DLQ.RedeliveryPastMaxAttempts: with a reason');

-- Requeue when the key has been taken by a new task meanwhile: unique among tasks not in the DLQ.
SELECT taskmill.enqueue('dlq-key', 'op', max_attempts => 1, idempotency_key => 'k1') AS t_key \gset
SELECT tm_test.take('dlq-key');
SELECT taskmill.nack(:t_key, tm_test.lease(:t_key), 'fail');
SELECT taskmill.enqueue('dlq-key', 'op', idempotency_key => 'k1');
SELECT throws_ok(format('SELECT taskmill.requeue_from_dlq(%s)', :t_key), '23505', NULL,
	'DLQ.Requeue_KeyTaken: requeue raises 23505 when a live task holds the key');
SELECT is(tm_test.state(:t_key), 'dlq', 'DLQ.Requeue_KeyTaken: the task stays in the DLQ');

-- Requeue of a task that is not in the DLQ, or does not exist.
SELECT taskmill.enqueue('dlq-live', 'op') AS t_live \gset
SELECT throws_ok(format('SELECT taskmill.requeue_from_dlq(%s)', :t_live), '55000', NULL,
	'TestConsole_RequeueFromDLQ_NotInDLQ: requeue of a pending task raises 55000');
SELECT throws_ok($$SELECT taskmill.requeue_from_dlq(999999999)$$, 'P0002', NULL,
	'TestConsole_RequeueFromDLQ_NotFound: requeue of a missing task raises P0002');

SELECT * FROM finish();
ROLLBACK;
