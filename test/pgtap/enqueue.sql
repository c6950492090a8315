-- Seed 1.1 to 1.4 at SQL level: single and batch enqueue, idempotency, validation; plus the
-- other bad inputs of issue 2 item 5, each with its SQLSTATE, and nothing left behind.
BEGIN;
\ir helpers.psql
SELECT plan(87);

-- 1.1 Single task enqueue -----------------------------------------------------------------

SELECT taskmill.enqueue('enq-success', 'send_welcome', '{"user": 42, "name": "Ada"}') AS t_success \gset
SELECT cmp_ok(:t_success::bigint, '>', 0::bigint, 'TestEnqueue_Success: returns a task id > 0');
SELECT results_eq(
	format('SELECT queue_name, operation_id, payload, attempts, dlq_at IS NULL, lease IS NULL
	        FROM taskmill.tasks WHERE id = %s', :t_success),
	$$VALUES ('enq-success'::text, 'send_welcome'::text, '{"user": 42, "name": "Ada"}'::jsonb, 0, true, true)$$,
	'TestEnqueue_Success: task exists with the given queue, operation, payload, no attempts yet');
SELECT is(tm_test.state(:t_success), 'available', 'TestEnqueue_Success: task is available at once');

SELECT taskmill.enqueue(
	queue_name => 'enq-all', operation_id => 'op_all', payload => '{"k": "v"}',
	priority => 50, max_attempts => 5,
	scheduled_at => now() + interval '1 hour', expires_at => now() + interval '2 hours',
	task_group_id => 'group-all', idempotency_key => 'key-all', ephemeral => true,
	meta => '{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}') AS t_all \gset
SELECT results_eq(
	format('SELECT priority, max_attempts, scheduled_at, expires_at, task_group_id, idempotency_key, ephemeral
	        FROM taskmill.tasks WHERE id = %s', :t_all),
	$$VALUES (50, 5, now() + interval '1 hour', now() + interval '2 hours', 'group-all'::text, 'key-all'::text, true)$$,
	'TestEnqueue_WithAllOptions: priority, max_attempts, scheduled_at, expires_at, group, key, ephemeral stored');
SELECT is((SELECT visible_at FROM taskmill.tasks WHERE id = :t_all), now() + interval '1 hour',
	'TestEnqueue_WithAllOptions: a future scheduled_at makes the task visible only then');
SELECT is(tm_test.state(:t_all), 'scheduled', 'TestEnqueue_WithAllOptions: task is scheduled, not available');
SELECT is((SELECT meta->>'traceparent' FROM taskmill.tasks WHERE id = :t_all),
	'00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
	'TestEnqueue_TracePropagation: meta keeps the traceparent header');

SELECT taskmill.enqueue('enq-default', 'op_default') AS t_def \gset
SELECT taskmill.enqueue('enq-default', 'op_default') AS t_def2 \gset
SELECT results_eq(
	format('SELECT priority, max_attempts, task_group_id, expires_at, ephemeral FROM taskmill.tasks WHERE id = %s', :t_def),
	$$VALUES (0, 3, NULL::text, NULL::timestamptz, false)$$,
	'TestEnqueue_DefaultOptions: priority 0, max_attempts 3, no group, no expiry, not ephemeral');
SELECT ok((SELECT scheduled_at BETWEEN now() - interval '1 second' AND clock_timestamp()
           FROM taskmill.tasks WHERE id = :t_def),
	'TestEnqueue_DefaultOptions: scheduled_at is now');
SELECT ok((SELECT idempotency_key IS NOT NULL AND idempotency_key <> '' FROM taskmill.tasks WHERE id = :t_def),
	'TestEnqueue_DefaultOptions: an idempotency key is generated');
SELECT isnt((SELECT idempotency_key FROM taskmill.tasks WHERE id = :t_def),
	(SELECT idempotency_key FROM taskmill.tasks WHERE id = :t_def2),
	'TestEnqueue_DefaultOptions: generated keys differ, so identical tasks both enqueue');

SELECT taskmill.enqueue('enq-nil', 'op_nil', NULL) AS t_nil \gset
SELECT ok((SELECT payload IS NULL FROM taskmill.tasks WHERE id = :t_nil),
	'TestEnqueue_NilPayload: SQL NULL payload stored as NULL');
SELECT taskmill.enqueue('enq-nil', 'op_nil', 'null'::jsonb) AS t_jnull \gset
SELECT is((SELECT jsonb_typeof(payload) FROM taskmill.tasks WHERE id = :t_jnull), 'null',
	'TestEnqueue_NilPayload: JSON null payload stored as JSON null');

SELECT taskmill.enqueue('enq-struct', 'op_struct',
	'{"id": 7, "name": "Grace", "active": true, "score": 9.5, "tags": ["a", "b"], "address": {"city": "Oslo", "zip": null}}')
	AS t_struct \gset
SELECT is((SELECT payload FROM taskmill.tasks WHERE id = :t_struct),
	'{"id": 7, "name": "Grace", "active": true, "score": 9.5, "tags": ["a", "b"], "address": {"city": "Oslo", "zip": null}}'::jsonb,
	'TestEnqueue_StructPayload: a JSON object with every JSON type round-trips');
SELECT is((SELECT payload #>> '{address,city}' FROM taskmill.tasks WHERE id = :t_struct), 'Oslo',
	'TestEnqueue_StructPayload: nested fields are queryable');

-- 1.2 Batch enqueue -----------------------------------------------------------------------

CREATE TEMP TABLE batch_ids AS
SELECT * FROM unnest(taskmill.enqueue_batch('enq-batch', '[
	{"operation_id": "op1", "payload": {"n": 1}},
	{"operation_id": "op2", "payload": {"n": 2}},
	{"operation_id": "op3", "payload": {"n": 3}}]')) WITH ORDINALITY AS b(id, n);
SELECT is((SELECT count(*) FROM batch_ids), 3::bigint, 'TestEnqueueBatch_Success: returns 3 ids');
SELECT is((SELECT count(*) FROM taskmill.tasks WHERE queue_name = 'enq-batch'), 3::bigint,
	'TestEnqueueBatch_Success: all 3 tasks are in the queue');
SELECT is((SELECT string_agg(t.operation_id || ':' || (t.payload->>'n'), ',' ORDER BY b.n)
           FROM batch_ids b JOIN taskmill.tasks t USING (id)),
	'op1:1,op2:2,op3:3', 'TestEnqueueBatch_Success: ids come back in input order');

SELECT is(cardinality(taskmill.enqueue_batch('enq-batch-empty', '[]')), 0,
	'TestEnqueueBatch_EmptyBatch: [] returns no ids');
SELECT is((SELECT count(*) FROM taskmill.tasks WHERE queue_name = 'enq-batch-empty'), 0::bigint,
	'TestEnqueueBatch_EmptyBatch: nothing enqueued');

SELECT taskmill.enqueue_batch('enq-batch-mixed', '[
	{"operation_id": "low",  "priority": -20, "max_attempts": 1},
	{"operation_id": "mid"},
	{"operation_id": "high", "priority": 90, "max_attempts": 10, "task_group_id": "g1",
	 "idempotency_key": "mixed-key", "ephemeral": true, "meta": {"traceparent": "tp"}}]') IS NOT NULL AS ignored \gset
SELECT results_eq(
	$$SELECT operation_id, priority, max_attempts, task_group_id, ephemeral, meta->>'traceparent'
	  FROM taskmill.tasks WHERE queue_name = 'enq-batch-mixed' ORDER BY id$$,
	$$VALUES ('low'::text, -20, 1, NULL::text, false, NULL::text), ('mid', 0, 3, NULL, false, NULL),
	         ('high', 90, 10, 'g1', true, 'tp')$$,
	'TestEnqueueBatch_MixedOptions: each task keeps its own options, defaults elsewhere');
SELECT is((SELECT idempotency_key FROM taskmill.tasks WHERE queue_name = 'enq-batch-mixed' AND operation_id = 'high'),
	'mixed-key', 'TestEnqueueBatch_MixedOptions: per-task idempotency key kept');
SELECT ok((SELECT scheduled_at BETWEEN now() - interval '1 second' AND clock_timestamp() FROM taskmill.tasks
           WHERE queue_name = 'enq-batch-mixed' AND operation_id = 'low'),
	'TestEnqueueBatch_MixedOptions: a task without scheduled_at is scheduled now');

SELECT is(cardinality(taskmill.enqueue_batch('enq-batch-large',
	(SELECT jsonb_agg(jsonb_build_object('operation_id', 'op', 'payload', jsonb_build_object('i', i)))
	 FROM generate_series(1, 100) i))), 100, 'TestEnqueueBatch_LargeBatch: 100 ids returned');
SELECT is((SELECT count(DISTINCT payload->>'i') FROM taskmill.tasks WHERE queue_name = 'enq-batch-large'), 100::bigint,
	'TestEnqueueBatch_LargeBatch: all 100 tasks created');

SELECT taskmill.enqueue_batch('enq-batch-trace',
	(SELECT jsonb_agg(jsonb_build_object('operation_id', 'op', 'meta', '{"traceparent": "00-aa-bb-01"}'::jsonb))
	 FROM generate_series(1, 5))) AS trace_ids \gset
SELECT is((SELECT count(DISTINCT meta->>'traceparent') || '/' || count(*) FROM taskmill.tasks
           WHERE id = ANY (:'trace_ids'::bigint[]) AND meta->>'traceparent' = '00-aa-bb-01'),
	'1/5', 'TestEnqueueBatch_SharedTraceContext: all 5 tasks carry the same traceparent');

-- 1.3 Idempotency -------------------------------------------------------------------------

SELECT lives_ok($$SELECT taskmill.enqueue('enq-idem', 'op', idempotency_key => 'abc')$$,
	'TestEnqueue_DuplicateIdempotencyKey: first task with key "abc" enqueued');
SELECT throws_ok($$SELECT taskmill.enqueue('enq-idem', 'op', idempotency_key => 'abc')$$, '23505', NULL,
	'TestEnqueue_DuplicateIdempotencyKey: same key again raises unique_violation (23505)');
SELECT is((SELECT count(*) FROM taskmill.tasks WHERE queue_name = 'enq-idem'), 1::bigint,
	'TestEnqueue_DuplicateIdempotencyKey: still exactly one task with the key');

SELECT lives_ok($$SELECT taskmill.enqueue('enq-idem-a', 'op', idempotency_key => 'shared')$$,
	'TestEnqueue_SameKeyDifferentQueues: key in queue-a');
SELECT lives_ok($$SELECT taskmill.enqueue('enq-idem-b', 'op', idempotency_key => 'shared')$$,
	'TestEnqueue_SameKeyDifferentQueues: same key in queue-b succeeds');

SELECT taskmill.enqueue('enq-idem-done', 'op', idempotency_key => 'reuse-done') AS t_done \gset
SELECT is(tm_test.take_and_ack('enq-idem-done'), :t_done::bigint,
	'TestEnqueue_KeyReusableAfterCompletion: task dequeued and acked');
SELECT is(tm_test.state(:t_done), 'completed', 'TestEnqueue_KeyReusableAfterCompletion: task is in results');
SELECT lives_ok($$SELECT taskmill.enqueue('enq-idem-done', 'op', idempotency_key => 'reuse-done')$$,
	'TestEnqueue_KeyReusableAfterCompletion: same key enqueues again');

SELECT taskmill.enqueue('enq-idem-dlq', 'op', max_attempts => 1, idempotency_key => 'reuse-dlq') AS t_dlq \gset
SELECT is(tm_test.take('enq-idem-dlq'), :t_dlq::bigint, 'TestEnqueue_KeyReusableAfterDLQ: task dequeued');
SELECT is(taskmill.nack(:t_dlq, tm_test.lease(:t_dlq), 'boom'), 'dlq',
	'TestEnqueue_KeyReusableAfterDLQ: nack at max_attempts dead-letters it');
SELECT lives_ok($$SELECT taskmill.enqueue('enq-idem-dlq', 'op', idempotency_key => 'reuse-dlq')$$,
	'TestEnqueue_KeyReusableAfterDLQ: same key enqueues while the old task is in the DLQ');
SELECT is((SELECT count(*) FROM taskmill.tasks WHERE queue_name = 'enq-idem-dlq' AND idempotency_key = 'reuse-dlq'),
	2::bigint, 'TestEnqueue_KeyReusableAfterDLQ: DLQ task and new task both present');

SELECT throws_ok($$SELECT taskmill.enqueue_batch('enq-idem-batch', '[
	{"operation_id": "a", "idempotency_key": "dup"},
	{"operation_id": "b", "idempotency_key": "dup"}]')$$, '23505', NULL,
	'TestEnqueueBatch_DuplicateKeyInBatch: batch with a repeated key raises 23505');
SELECT is((SELECT count(*) FROM taskmill.tasks WHERE queue_name = 'enq-idem-batch'), 0::bigint,
	'TestEnqueueBatch_DuplicateKeyInBatch: entire batch fails, nothing enqueued');

SELECT taskmill.enqueue('enq-idem-conflict', 'op', idempotency_key => 'exists') AS t_exists \gset
SELECT throws_ok($$SELECT taskmill.enqueue_batch('enq-idem-conflict', '[
	{"operation_id": "new1", "idempotency_key": "fresh-1"},
	{"operation_id": "new2", "idempotency_key": "exists"},
	{"operation_id": "new3"}]')$$, '23505', NULL,
	'TestEnqueueBatch_ConflictWithExisting: batch containing an existing key raises 23505');
SELECT results_eq($$SELECT operation_id FROM taskmill.tasks WHERE queue_name = 'enq-idem-conflict'$$,
	ARRAY['op'], 'TestEnqueueBatch_ConflictWithExisting: entire batch fails, only the old task remains');

-- 1.4 Validation errors -------------------------------------------------------------------

SELECT throws_ok($$SELECT taskmill.enqueue('enq-bad', 'op', priority => 101)$$, '22023', NULL,
	'TestEnqueue_InvalidPriority_TooHigh: priority 101 raises 22023');
SELECT throws_ok($$SELECT taskmill.enqueue('enq-bad', 'op', priority => -101)$$, '22023', NULL,
	'TestEnqueue_InvalidPriority_TooLow: priority -101 raises 22023');
SELECT throws_ok($$SELECT taskmill.enqueue('enq-bad', 'op', max_attempts => 0)$$, '22023', NULL,
	'TestEnqueue_InvalidMaxAttempts_Zero: max_attempts 0 raises 22023');
SELECT throws_ok($$SELECT taskmill.enqueue('enq-bad', 'op', idempotency_key => '')$$, '22023', NULL,
	'TestEnqueue_EmptyIdempotencyKey: empty key raises 22023');

-- Issue 2 item 5: every other bad input, with its SQLSTATE.
SELECT throws_ok($$SELECT taskmill.enqueue('enq-bad', 'op', max_attempts => -1)$$, '22023', NULL,
	'Enqueue.Validation: negative max_attempts raises 22023');
SELECT throws_ok($$SELECT taskmill.enqueue(NULL, 'op')$$, '22004', NULL,
	'Enqueue.Validation: NULL queue name raises 22004');
SELECT throws_ok($$SELECT taskmill.enqueue('', 'op')$$, '22023', NULL,
	'Enqueue.Validation: empty queue name raises 22023');
SELECT throws_ok($$SELECT taskmill.enqueue('enq-bad', NULL)$$, '22004', NULL,
	'Enqueue.Validation: NULL operation id raises 22004');
SELECT throws_ok($$SELECT taskmill.enqueue('enq-bad', '')$$, '22023', NULL,
	'Enqueue.Validation: empty operation id raises 22023');
SELECT throws_ok($$SELECT taskmill.enqueue('enq-bad', 'op', scheduled_at => now() + interval '2 hours',
	expires_at => now() + interval '1 hour')$$, '22023', NULL,
	'Enqueue.Validation: expires_at before scheduled_at raises 22023');
SELECT throws_ok($$SELECT taskmill.enqueue_batch('enq-bad', '{"operation_id": "op"}')$$, '22023', NULL,
	'EnqueueBatch.Validation: an object instead of an array raises 22023');
SELECT throws_ok($$SELECT taskmill.enqueue_batch('enq-bad', '[{"operation_id": "op"}, 42]')$$, '22023', NULL,
	'EnqueueBatch.Validation: an element that is not an object raises 22023');
SELECT throws_ok($$SELECT taskmill.enqueue_batch('enq-bad', '[{"operation_id": "op", "priority": "high"}]')$$, '22023', NULL,
	'EnqueueBatch.Validation: a wrongly typed field (priority "high") raises 22023');
SELECT throws_ok($$SELECT taskmill.enqueue_batch('enq-bad', '[{"operation_id": 5}]')$$, '22023', NULL,
	'EnqueueBatch.Validation: a wrongly typed operation_id raises 22023');
SELECT throws_ok($$SELECT taskmill.enqueue_batch('enq-bad', '[{"operation_id": "ok"}, {"operation_id": "op", "priority": 500}]')$$,
	'22023', NULL, 'EnqueueBatch.Validation: priority 500 in the second task fails the whole batch with 22023');
SELECT throws_ok($$SELECT taskmill.enqueue_batch('enq-bad', '[{"operation_id": "ok"}, {"operation_id": "op", "max_attempts": 0}]')$$,
	'22023', NULL, 'EnqueueBatch.Validation: max_attempts 0 in a batch raises 22023');
SELECT throws_ok($$SELECT taskmill.enqueue_batch('enq-bad', '[{"operation_id": "op", "idempotency_key": ""}]')$$,
	'22023', NULL, 'EnqueueBatch.Validation: an empty idempotency key in a batch raises 22023');
SELECT throws_ok($$SELECT taskmill.enqueue_batch('enq-bad', NULL)$$, '22004', NULL,
	'EnqueueBatch.Validation: NULL tasks raises 22004');
SELECT throws_ok($$SELECT taskmill.enqueue_batch(NULL, '[{"operation_id": "op"}]')$$, '22004', NULL,
	'EnqueueBatch.Validation: NULL queue name raises 22004');
SELECT ok(tm_test.sqlstate_of($$SELECT taskmill.enqueue_batch('enq-bad', '[{"payload": {}}]')$$) IN ('22004', '22023'),
	'EnqueueBatch.Validation: a task without operation_id is rejected (22004 or 22023)');
SELECT throws_ok($$SELECT taskmill.dequeue('enq-bad', batch_size => 0)$$, '22023', NULL,
	'Dequeue.Validation: batch_size 0 raises 22023');
SELECT throws_ok($$SELECT taskmill.dequeue('enq-bad', batch_size => 100000000)$$, '22023', NULL,
	'Dequeue.Validation: an absurd batch_size raises 22023');
SELECT throws_ok($$SELECT taskmill.dequeue('enq-bad', visibility_timeout => interval '-1 second')$$, '22023', NULL,
	'Dequeue.Validation: a negative visibility timeout raises 22023');
SELECT throws_ok($$SELECT taskmill.dequeue(NULL)$$, '22004', NULL,
	'Dequeue.Validation: NULL queue name raises 22004');
SELECT throws_ok($$SELECT taskmill.ack(-1, gen_random_uuid())$$, 'P0002', NULL,
	'Ack.Validation: an unknown task id raises P0002');
SELECT throws_ok($$SELECT taskmill.nack(-1, gen_random_uuid(), 'err')$$, 'P0002', NULL,
	'Nack.Validation: an unknown task id raises P0002');
SELECT throws_ok($$SELECT taskmill.extend_visibility(-1, gen_random_uuid(), interval '1 minute')$$, 'P0002', NULL,
	'ExtendVisibility.Validation: an unknown task id raises P0002');
SELECT throws_ok($$SELECT taskmill.requeue_from_dlq(-1)$$, 'P0002', NULL,
	'RequeueFromDLQ.Validation: an unknown task id raises P0002');

SELECT throws_ok($$SELECT taskmill.enqueue('enq-bad', 'op', task_group_id => '')$$, '22023', NULL,
	'Enqueue.Validation: an empty task group id raises 22023');
SELECT throws_ok($$SELECT taskmill.enqueue('enq-bad', 'op', meta => '[1, 2]')$$, '22023', NULL,
	'Enqueue.Validation: meta that is not a JSON object raises 22023');
SELECT throws_ok($$SELECT taskmill.enqueue(repeat('q', 10000), 'op')$$, '22023', NULL,
	'Enqueue.Validation: an overlong queue name raises 22023, never a silent truncation');
SELECT throws_ok($$SELECT taskmill.enqueue_batch('enq-bad', '[{"operation_id": "op", "bogus": 1}]')$$, '22023', NULL,
	'EnqueueBatch.Validation: an unknown field raises 22023');
SELECT throws_ok($$SELECT taskmill.enqueue_batch('enq-bad', '[{"operation_id": "op", "scheduled_at": "not a date"}]')$$, '22007', NULL,
	'EnqueueBatch.Validation: a malformed timestamp raises 22007');
SELECT throws_ok($$SELECT taskmill.enqueue_batch('enq-bad', '[{"operation_id": "op", "scheduled_at": "2030-01-02T00:00:00Z",
	"expires_at": "2030-01-01T00:00:00Z"}]')$$, '22023', NULL,
	'EnqueueBatch.Validation: expires_at before scheduled_at in a batch raises 22023');
SELECT throws_ok($$SELECT taskmill.ack(1, NULL)$$, '22004', NULL, 'Ack.Validation: a NULL lease raises 22004');
SELECT throws_ok($$SELECT taskmill.nack(1, NULL, 'err')$$, '22004', NULL, 'Nack.Validation: a NULL lease raises 22004');
SELECT throws_ok($$SELECT taskmill.nack(1, gen_random_uuid(), 'err', retry_delay => interval '-1 second')$$, '22023', NULL,
	'Nack.Validation: a negative retry delay raises 22023');
SELECT throws_ok($$SELECT taskmill.extend_visibility(1, gen_random_uuid(), interval '-1 second')$$, '22023', NULL,
	'ExtendVisibility.Validation: a negative interval raises 22023');
SELECT throws_ok($$SELECT taskmill.requeue_from_dlq(NULL)$$, '22004', NULL,
	'RequeueFromDLQ.Validation: a NULL task id raises 22004');

-- Nothing half done: no failed call above left a task, and the transaction still works.
SELECT is((SELECT count(*) FROM taskmill.tasks WHERE queue_name IN ('enq-bad', '')), 0::bigint,
	'Enqueue.Validation: no failed enqueue or batch left a task behind');
SELECT taskmill.enqueue_batch('enq-after-error', '[{"operation_id": "a"}, {"operation_id": "b"}]') AS after_ids \gset
SELECT is((SELECT count(*) FROM taskmill.tasks WHERE queue_name = 'enq-after-error'), 2::bigint,
	'Enqueue.Validation: enqueueing works normally after the errors');
SELECT is(tm_test.counts('enq-idem-batch'), 'available=0 in_flight=0 scheduled=0 dlq=0 results=0',
	'Enqueue.Validation: a failed batch leaves no task, no DLQ entry, no result');

-- NULL for an option that has a default means that default.
SELECT taskmill.enqueue('enq-null-opts', 'op', priority => NULL, max_attempts => NULL, scheduled_at => NULL,
	ephemeral => NULL, meta => NULL) AS t_nullopts \gset
SELECT results_eq(format('SELECT priority, max_attempts, ephemeral, scheduled_at <= clock_timestamp(), idempotency_key <> %L
	FROM taskmill.tasks WHERE id = %s', '', :t_nullopts),
	$$VALUES (0, 3, false, true, true)$$, 'Enqueue.NullOptions: NULL options take their defaults');

-- Boundaries that are valid.
SELECT lives_ok($$SELECT taskmill.enqueue('enq-bounds', 'op', priority => 100, max_attempts => 1)$$,
	'Enqueue.Validation: priority 100 and max_attempts 1 are accepted');
SELECT lives_ok($$SELECT taskmill.enqueue('enq-bounds', 'op', priority => -100)$$,
	'Enqueue.Validation: priority -100 is accepted');

SELECT * FROM finish();
ROLLBACK;
