-- A dequeue call does bounded work (extension/dequeue.c CLAIM_ROUNDS): however many expired
-- tasks or blocked FIFO tasks stand in front, one call makes at most four claim rounds and
-- returns; the next call goes on past what the last one dead-lettered or parked.
-- (TestDLQ_Expired, TestPerf_FIFO_LockContention under a large group.)
BEGIN;
\ir helpers.psql
SELECT plan(7);

-- 100 expired tasks ahead of one good task.
SELECT count(*) FROM (SELECT taskmill.enqueue('bounded-dl', 'expired', expires_at => now() + interval '1 millisecond')
	FROM generate_series(1, 100)) s;
SELECT taskmill.enqueue('bounded-dl', 'good') AS good \gset
UPDATE taskmill.tasks SET expires_at = now() - interval '1 second' WHERE queue_name = 'bounded-dl' AND operation_id = 'expired';
SELECT is((SELECT count(*) FROM taskmill.dequeue('bounded-dl', 1)), 0::bigint,
	'TestDLQ_Expired: one call in front of 100 expired tasks returns, empty');
SELECT is((SELECT count(*) FROM taskmill.tasks WHERE queue_name = 'bounded-dl' AND dlq_at IS NOT NULL), 4::bigint,
	'TestDLQ_Expired: that call dead-lettered four (one a round)');
CREATE FUNCTION pg_temp.calls_until_delivered(q text) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
	n int := 0;
BEGIN
	LOOP
		n := n + 1;
		EXIT WHEN (SELECT count(*) FROM taskmill.dequeue(q, 1)) > 0 OR n >= 1000;
	END LOOP;
	RETURN n;
END $$;
SELECT is(pg_temp.calls_until_delivered('bounded-dl'), 25,
	'TestDLQ_Expired: the good task comes out at the 25th call after that (96 dead-lettered, four a call)');
SELECT is((SELECT count(*) FROM taskmill.tasks WHERE queue_name = 'bounded-dl' AND dlq_at IS NOT NULL AND dlq_reason = 'expired'),
	100::bigint, 'TestDLQ_Expired: all 100 in the DLQ as expired');

-- One group of 2,000 with its head in flight: one call parks at most four rounds of it.
SELECT taskmill.enqueue_batch('bounded-fifo', (SELECT jsonb_agg(jsonb_build_object('operation_id', 'g' || i,
	'task_group_id', 'big')) FROM generate_series(1, 2000) i)) IS NOT NULL AS filled;
SELECT is((SELECT operation_id FROM taskmill.dequeue('bounded-fifo', 1)), 'g1', 'TestPerf_FIFO_LockContention: the head is delivered');
SELECT is((SELECT count(*) FROM taskmill.dequeue('bounded-fifo', 1)), 0::bigint,
	'TestPerf_FIFO_LockContention: a call behind the busy head returns, empty');
SELECT is((SELECT count(*) FROM taskmill.tasks WHERE queue_name = 'bounded-fifo' AND waiting), 4 * 257::bigint,
	'TestPerf_FIFO_LockContention: it parked four rounds of the group (each the candidate and the 256 after it)');

SELECT * FROM finish();
ROLLBACK;
