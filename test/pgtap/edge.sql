-- Seed 9.1 to 9.5 at SQL level: payload, timing, numeric, state and transaction edge cases.
-- The transaction tests use a second session (dblink) and clean up what they commit.
BEGIN;
\ir helpers.psql
SELECT plan(45);

-- 9.1 Payload edge cases: each payload is enqueued, then read back through dequeue.
SELECT taskmill.enqueue('edge-payload', 'nil', NULL) AS p_nil \gset
SELECT taskmill.enqueue('edge-payload', 'empty', '{}') AS p_empty \gset
SELECT taskmill.enqueue('edge-payload', 'large',
	jsonb_build_object('blob', repeat('x', 1024 * 1024), 'n', 1)) AS p_large \gset
SELECT taskmill.enqueue('edge-payload', 'nested',
	(repeat('{"a": [', 100) || '{"leaf": "deep"}' || repeat(']}', 100))::jsonb) AS p_nested \gset
SELECT taskmill.enqueue('edge-payload', 'unicode',
	'{"text": "héllo wörld — 日本語 テスト — مرحبا — Ω≈ç√", "emoji": "🎉🚀", "escaped": "\u00e9\ud83d\ude00", "quote": "it''s \"q\""}') AS p_uni \gset
SELECT taskmill.enqueue('edge-payload', 'op/test:1', '{"k": 1}') AS p_special \gset
CREATE TEMP TABLE delivered AS SELECT * FROM taskmill.dequeue('edge-payload', batch_size => 10);
SELECT is((SELECT count(*) FROM delivered), 6::bigint, 'TestEdge_Payloads: all six payload tasks delivered');
SELECT ok((SELECT payload IS NULL FROM delivered WHERE id = :p_nil), 'TestEdge_NilPayload: NULL payload enqueued and delivered as NULL');
SELECT is((SELECT payload FROM delivered WHERE id = :p_empty), '{}'::jsonb, 'TestEdge_EmptyMapPayload: {} enqueued and delivered');
SELECT is((SELECT length(payload->>'blob') FROM delivered WHERE id = :p_large), 1024 * 1024,
	'TestEdge_LargePayload: a 1 MB payload is stored and delivered whole');
SELECT is((SELECT md5(payload->>'blob') FROM delivered WHERE id = :p_large), md5(repeat('x', 1024 * 1024)),
	'TestEdge_LargePayload: content intact');
SELECT is((SELECT payload FROM delivered WHERE id = :p_nested),
	(repeat('{"a": [', 100) || '{"leaf": "deep"}' || repeat(']}', 100))::jsonb,
	'TestEdge_NestedPayload: 100 levels of nesting stored and retrieved exactly');
SELECT is((SELECT payload #>> (ARRAY(SELECT unnest(ARRAY['a', '0']) FROM generate_series(1, 100)) || ARRAY['leaf'])
           FROM delivered WHERE id = :p_nested), 'deep', 'TestEdge_NestedPayload: the innermost value is reachable');
SELECT is((SELECT payload->>'text' FROM delivered WHERE id = :p_uni), 'héllo wörld — 日本語 テスト — مرحبا — Ω≈ç√',
	'TestEdge_UnicodePayload: multi-script text preserved');
SELECT is((SELECT payload->>'emoji' FROM delivered WHERE id = :p_uni), '🎉🚀', 'TestEdge_UnicodePayload: emoji preserved');
SELECT is((SELECT payload->>'escaped' FROM delivered WHERE id = :p_uni), 'é😀', 'TestEdge_UnicodePayload: JSON escapes decoded');
SELECT is((SELECT payload->>'quote' FROM delivered WHERE id = :p_uni), 'it''s "q"', 'TestEdge_UnicodePayload: quotes preserved');
SELECT is((SELECT operation_id FROM delivered WHERE id = :p_special), 'op/test:1',
	'TestEdge_SpecialChars_OperationID: "op/test:1" works');
SELECT taskmill.enqueue('q with spaces/é:1''"', 'op') AS p_q \gset
SELECT is(tm_test.take('q with spaces/é:1''"'), :p_q::bigint, 'TestEdge_SpecialChars_OperationID: a queue name with special characters works too');
SELECT results_eq($$SELECT count(*) FILTER (WHERE taskmill.ack(id, lease)) FROM delivered$$, ARRAY[6::bigint],
	'TestEdge_Payloads: all acked');
SELECT is((SELECT length(payload->>'blob') FROM taskmill.task_results WHERE id = :p_large), 1024 * 1024,
	'TestEdge_LargePayload: the 1 MB payload reaches results whole');

-- 9.2 Timing edge cases.
SELECT taskmill.enqueue('edge-past', 'op', scheduled_at => now() - interval '1 hour') AS t_past \gset
SELECT is(tm_test.take('edge-past'), :t_past::bigint, 'TestEdge_ScheduledAt_Past: immediately available');
SELECT taskmill.enqueue('edge-now', 'op', scheduled_at => now()) AS t_now \gset
SELECT is(tm_test.take('edge-now'), :t_now::bigint, 'TestEdge_ScheduledAt_Now: immediately available');
SELECT taskmill.enqueue('edge-expired', 'op', scheduled_at => now() - interval '1 hour',
	expires_at => now() - interval '1 second') AS t_exp \gset
-- The seed enqueues with only expiresAt=past: scheduled_at defaults to NULL (= now()) and the
-- "expires_at is before scheduled_at" check applies only to a scheduled_at the caller gave.
SELECT lives_ok($$SELECT taskmill.enqueue('edge-expired-default', 'op', expires_at => now() - interval '1 second')$$,
	'TestEdge_ExpiresAt_Past: expires_at in the past without scheduled_at enqueues');
SELECT is(tm_test.take('edge-expired'), NULL, 'TestEdge_ExpiresAt_Past: not delivered');
SELECT is(tm_test.state(:t_exp), 'dlq', 'TestEdge_ExpiresAt_Past: to the DLQ on dequeue');
SELECT id AS t_exp_default FROM taskmill.tasks WHERE queue_name = 'edge-expired-default' \gset
SELECT is(tm_test.take('edge-expired-default'), NULL, 'TestEdge_ExpiresAt_Past: not delivered (default scheduled_at)');
SELECT is((SELECT dlq_reason FROM taskmill.tasks WHERE id = :t_exp_default), 'expired',
	'TestEdge_ExpiresAt_Past: to the DLQ as expired at the first dequeue (default scheduled_at)');
SELECT taskmill.enqueue('edge-short', 'op') AS t_short \gset
SELECT is((SELECT id FROM taskmill.dequeue('edge-short', visibility_timeout => interval '1 second')), :t_short::bigint,
	'TestEdge_VisibilityTimeout_Short: dequeued with a 1 s visibility timeout');
SELECT ok((SELECT visible_at BETWEEN now() + interval '1 second' AND clock_timestamp() + interval '1 second'
           FROM taskmill.tasks WHERE id = :t_short), 'TestEdge_VisibilityTimeout_Short: hidden for 1 s only');
UPDATE taskmill.tasks SET visible_at = visible_at - interval '2 seconds' WHERE id = :t_short;
SELECT is(tm_test.take('edge-short'), :t_short::bigint, 'TestEdge_VisibilityTimeout_Short: visible again 2 s later');
SELECT taskmill.enqueue('edge-deadline', 'op', expires_at => now() + interval '1 second') AS t_dl \gset
SELECT is((SELECT expires_at FROM taskmill.dequeue('edge-deadline')), now() + interval '1 second',
	'TestEdge_ProcessTimeout_ExpiresAt: dequeue hands the worker expires_at as its deadline');

-- 9.3 Numeric edge cases.
SELECT lives_ok($$SELECT taskmill.enqueue('edge-num', 'min', priority => -100)$$, 'TestEdge_Priority_Min: priority -100 accepted');
SELECT lives_ok($$SELECT taskmill.enqueue('edge-num', 'max', priority => 100)$$, 'TestEdge_Priority_Max: priority 100 accepted');
SELECT results_eq($$SELECT operation_id FROM taskmill.dequeue('edge-num', batch_size => 1)$$, ARRAY['max'],
	'TestEdge_Priority_Max: priority 100 goes before -100');
SELECT taskmill.enqueue('edge-one', 'op', max_attempts => 1) AS t_one \gset
SELECT tm_test.take('edge-one');
SELECT is(taskmill.nack(:t_one, tm_test.lease(:t_one), 'fail'), 'dlq', 'TestEdge_MaxAttempts_One: one failure goes straight to the DLQ');
SELECT taskmill.enqueue('edge-hundred', 'op', max_attempts => 100) AS t_100 \gset
CREATE TEMP TABLE outcomes (outcome text);
DO $$
DECLARE
	t record;
BEGIN
	FOR i IN 1..101 LOOP
		SELECT id, lease INTO t FROM taskmill.dequeue('edge-hundred');
		EXIT WHEN t.id IS NULL;
		INSERT INTO outcomes VALUES (taskmill.nack(t.id, t.lease, 'fail ' || i));
		PERFORM tm_test.time_passes(t.id);
	END LOOP;
END $$;
SELECT results_eq($$SELECT outcome, count(*) FROM outcomes GROUP BY 1 ORDER BY 1$$,
	$$VALUES ('dlq'::text, 1::bigint), ('retry', 99)$$, 'TestEdge_MaxAttempts_Large: 100 attempts, 99 retries, then the DLQ');
SELECT is((SELECT attempts FROM taskmill.tasks WHERE id = :t_100), 100, 'TestEdge_MaxAttempts_Large: attempts = 100');

-- 9.4 State edge cases.
SELECT is_empty($$SELECT * FROM taskmill.dequeue('edge-empty', batch_size => 10)$$, 'TestEdge_EmptyQueue_Dequeue: empty result, no error');
SELECT results_eq($$SELECT available, in_flight, scheduled, in_dlq FROM taskmill.queue_stats('edge-empty')$$,
	$$VALUES (0::bigint, 0::bigint, 0::bigint, 0::bigint)$$, 'TestEdge_EmptyQueue_Stats: all zeros');
SELECT taskmill.enqueue('edge-alldlq', 'op', max_attempts => 1) FROM generate_series(1, 5);
SELECT count(taskmill.nack(id, lease, 'fail')) FROM taskmill.dequeue('edge-alldlq', batch_size => 5);
SELECT is_empty($$SELECT * FROM taskmill.dequeue('edge-alldlq', batch_size => 10)$$, 'TestEdge_AllTasksInDLQ: dequeue returns nothing');
SELECT taskmill.enqueue('edge-allsched', 'op', scheduled_at => now() + interval '1 hour') FROM generate_series(1, 5);
SELECT is_empty($$SELECT * FROM taskmill.dequeue('edge-allsched', batch_size => 10)$$, 'TestEdge_AllTasksScheduled: dequeue returns nothing');
SELECT taskmill.enqueue('edge-allflight', 'op') FROM generate_series(1, 5);
SELECT is((SELECT count(*) FROM taskmill.dequeue('edge-allflight', batch_size => 5, visibility_timeout => interval '1 hour')), 5::bigint,
	'TestEdge_AllTasksInFlight: five tasks taken for an hour');
SELECT is_empty($$SELECT * FROM taskmill.dequeue('edge-allflight', batch_size => 10)$$, 'TestEdge_AllTasksInFlight: dequeue returns nothing');
SELECT results_eq($$SELECT available, in_flight FROM taskmill.queue_stats('edge-allflight')$$,
	$$VALUES (0::bigint, 5::bigint)$$, 'TestEdge_AllTasksInFlight: stats show 5 in flight');

-- 9.5 Database edge cases, with a second session that commits or rolls back on its own.
SELECT dblink_connect('edge_other', format('host=127.0.0.1 port=%s user=postgres dbname=%s',
	current_setting('port'), current_database()));
SELECT dblink_exec('edge_other', 'BEGIN');
SELECT * FROM dblink('edge_other', $$SELECT taskmill.enqueue('edge-tx-rollback', 'op')$$) AS r(id bigint);
SELECT is((SELECT n FROM dblink('edge_other', $$SELECT count(*) FROM taskmill.tasks WHERE queue_name = 'edge-tx-rollback'$$) AS r(n bigint)),
	1::bigint, 'TestEdge_Transaction_Rollback: the enqueuing transaction sees its task');
SELECT is((SELECT count(*) FROM taskmill.tasks WHERE queue_name = 'edge-tx-rollback'), 0::bigint,
	'TestEdge_Transaction_Rollback: no other session sees it before commit');
SELECT dblink_exec('edge_other', 'ROLLBACK');
SELECT is((SELECT n FROM dblink('edge_other', $$SELECT count(*) FROM taskmill.tasks WHERE queue_name = 'edge-tx-rollback'$$) AS r(n bigint)),
	0::bigint, 'TestEdge_Transaction_Rollback: no task in the database after rollback');

SELECT dblink_exec('edge_other', 'BEGIN');
SELECT * FROM dblink('edge_other', $$SELECT taskmill.enqueue('edge-tx-commit', 'op', '{"committed": true}')$$) AS r(id bigint);
SELECT dblink_exec('edge_other', 'COMMIT');
SELECT is((SELECT payload FROM taskmill.tasks WHERE queue_name = 'edge-tx-commit'), '{"committed": true}'::jsonb,
	'TestEdge_Transaction_Commit: the committed task is in the database for everyone');
SELECT is((SELECT ok FROM dblink('edge_other', $$SELECT taskmill.ack(id, lease) FROM taskmill.dequeue('edge-tx-commit')$$) AS r(ok boolean)),
	true, 'TestEdge_Transaction_Commit: another session can dequeue and ack it');
SELECT * FROM dblink('edge_other', $$SELECT taskmill.cleanup_results('edge-tx-commit', now() + interval '1 hour')$$) AS r(n bigint);
SELECT dblink_disconnect('edge_other');

-- A savepoint rolled back inside the caller's transaction takes its enqueue with it.
SAVEPOINT before_enqueue;
SELECT taskmill.enqueue('edge-tx-savepoint', 'op');
ROLLBACK TO SAVEPOINT before_enqueue;
SELECT is((SELECT count(*) FROM taskmill.tasks WHERE queue_name = 'edge-tx-savepoint'), 0::bigint,
	'TestEdge_Transaction_Rollback: an enqueue rolled back to a savepoint leaves nothing');

SELECT * FROM finish();
ROLLBACK;
