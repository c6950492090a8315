-- Seed 4.1, 4.2 and 4.4 at SQL level: the console's queue, DLQ and results functions.
BEGIN;
\ir helpers.psql
SELECT plan(34);

-- Put n new tasks of a queue in the DLQ (max_attempts 1, one failure); priority 100 so the
-- dequeue takes these and not the queue's other tasks.
CREATE FUNCTION tm_test.to_dlq(queue text, n int) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	PERFORM taskmill.enqueue(queue, 'op', priority => 100, max_attempts => 1) FROM generate_series(1, n);
	PERFORM taskmill.nack(id, lease, 'fail') FROM taskmill.dequeue(queue, batch_size => n);
END $$;

-- 4.1 Queue operations --------------------------------------------------------------------

SELECT is_empty('SELECT * FROM taskmill.list_queues()', 'TestConsole_ListQueues_Empty: no queues in a clean database');

SELECT taskmill.enqueue('queue-b', 'op');
SELECT taskmill.enqueue('queue-a', 'op');
SELECT taskmill.enqueue('queue-a', 'op');
SELECT taskmill.enqueue('queue-c', 'op');
SELECT tm_test.take_and_ack('queue-c');
SELECT tm_test.to_dlq('queue-d', 1);
SELECT results_eq('SELECT * FROM taskmill.list_queues()', ARRAY['queue-a', 'queue-b', 'queue-c', 'queue-d'],
	'TestConsole_ListQueues_Multiple: each queue once, sorted, including queues with only results or only DLQ tasks');

SELECT results_eq($$SELECT available, in_flight, scheduled, in_dlq FROM taskmill.queue_stats('stats-empty')$$,
	$$VALUES (0::bigint, 0::bigint, 0::bigint, 0::bigint)$$, 'TestConsole_Stats_Empty: all zeros');

-- Stats_Mixed: 3 available, 2 in flight, 1 scheduled for later, 2 in the DLQ, 1 completed.
SELECT taskmill.enqueue('stats-mixed', 'op') FROM generate_series(1, 4);
SELECT taskmill.enqueue('stats-mixed', 'later', scheduled_at => now() + interval '1 hour');
SELECT count(*) FROM taskmill.dequeue('stats-mixed', batch_size => 2);
SELECT tm_test.take_and_ack('stats-mixed');
SELECT tm_test.to_dlq('stats-mixed', 2);
SELECT is(tm_test.counts('stats-mixed'), 'available=1 in_flight=2 scheduled=1 dlq=2 results=1',
	'TestConsole_Stats_Mixed: set-up as intended');
SELECT taskmill.enqueue('stats-mixed', 'op') FROM generate_series(1, 2);
SELECT results_eq($$SELECT available, in_flight, scheduled, in_dlq FROM taskmill.queue_stats('stats-mixed')$$,
	$$VALUES (3::bigint, 2::bigint, 1::bigint, 2::bigint)$$,
	'TestConsole_Stats_Mixed: available 3, in flight 2, scheduled 1, in DLQ 2');
SELECT results_eq($$SELECT available, in_flight, scheduled, in_dlq FROM taskmill.queue_stats('queue-a')$$,
	$$VALUES (2::bigint, 0::bigint, 0::bigint, 0::bigint)$$, 'TestConsole_Stats_Mixed: other queues counted apart');

-- Purge: 5 pending (one of them in flight, one scheduled), 2 in the DLQ.
SELECT taskmill.enqueue('purge', 'op') FROM generate_series(1, 4);
SELECT taskmill.enqueue('purge', 'later', scheduled_at => now() + interval '1 day');
SELECT tm_test.take('purge');
SELECT tm_test.to_dlq('purge', 2);
SELECT taskmill.enqueue('purge-other', 'op');
SELECT is(tm_test.counts('purge'), 'available=3 in_flight=1 scheduled=1 dlq=2 results=0', 'TestConsole_Purge: set-up as intended');
SELECT is(taskmill.purge('purge')::bigint, 5::bigint, 'TestConsole_Purge: purge reports 5 tasks deleted');
SELECT is(tm_test.counts('purge'), 'available=0 in_flight=0 scheduled=0 dlq=2 results=0', 'TestConsole_Purge: pending gone, DLQ preserved');
SELECT is(tm_test.counts('purge-other'), 'available=1 in_flight=0 scheduled=0 dlq=0 results=0', 'TestConsole_Purge: other queues untouched');

SELECT taskmill.enqueue('purge-dlq', 'op') FROM generate_series(1, 5);
SELECT tm_test.to_dlq('purge-dlq', 2);
SELECT tm_test.to_dlq('purge-other', 1);
SELECT is(taskmill.purge_dlq('purge-dlq')::bigint, 2::bigint, 'TestConsole_PurgeDLQ: purge_dlq reports 2 tasks deleted');
SELECT is(tm_test.counts('purge-dlq'), 'available=5 in_flight=0 scheduled=0 dlq=0 results=0', 'TestConsole_PurgeDLQ: DLQ empty, pending preserved');
SELECT is(tm_test.counts('purge-other'), 'available=1 in_flight=0 scheduled=0 dlq=1 results=0', 'TestConsole_PurgeDLQ: other queues'' DLQ untouched');
SELECT is(taskmill.purge('no-such-queue')::bigint, 0::bigint, 'TestConsole_Purge: purging an unknown queue deletes nothing');

-- 4.2 DLQ operations ----------------------------------------------------------------------

SELECT tm_test.to_dlq('requeue', 1);
SELECT id AS t_rq FROM taskmill.tasks WHERE queue_name = 'requeue' \gset
SELECT lives_ok(format('SELECT taskmill.requeue_from_dlq(%s)', :t_rq), 'TestConsole_RequeueFromDLQ_Success: requeue succeeds');
SELECT results_eq(format('SELECT dlq_at IS NULL, dlq_reason IS NULL, attempts FROM taskmill.tasks WHERE id = %s', :t_rq),
	$$VALUES (true, true, 0)$$, 'TestConsole_RequeueFromDLQ_Success: dlq_at cleared, attempts reset');
SELECT is(tm_test.state(:t_rq), 'available', 'TestConsole_RequeueFromDLQ_Success: task back in the queue, visible now');
SELECT throws_ok(format('SELECT taskmill.requeue_from_dlq(%s)', :t_rq), '55000', NULL,
	'TestConsole_RequeueFromDLQ_NotInDLQ: requeue of a pending task raises 55000');
SELECT is(tm_test.state(:t_rq), 'available', 'TestConsole_RequeueFromDLQ_NotInDLQ: the pending task is unchanged');
SELECT throws_ok('SELECT taskmill.requeue_from_dlq(999)', 'P0002', NULL,
	'TestConsole_RequeueFromDLQ_NotFound: requeue of a missing task raises P0002');

-- 4.4 Results operations ------------------------------------------------------------------

-- Completed tasks with distinct completion times (time travel), newest "now".
CREATE FUNCTION tm_test.complete(queue text, n int, ago interval DEFAULT '0') RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	got bigint;
BEGIN
	FOR i IN 1..n LOOP
		PERFORM taskmill.enqueue(queue, 'op', jsonb_build_object('i', i));
		got := tm_test.take_and_ack(queue);
		UPDATE taskmill.task_results SET completed_at = now() - ago - (n - i) * interval '1 second' WHERE id = got;
	END LOOP;
END $$;

SELECT tm_test.complete('results-all', 5);
SELECT is((SELECT count(*) FROM taskmill.list_results(NULL, NULL, NULL, 1000, 0)),
	(SELECT count(*) FROM taskmill.task_results), 'TestConsole_ListResults_All: every result listed without a filter');
SELECT is((SELECT count(*) FROM taskmill.list_results(NULL, NULL, NULL, 1000, 0) WHERE queue_name = 'results-all'), 5::bigint,
	'TestConsole_ListResults_All: all 5 completed tasks returned');

SELECT tm_test.complete('results-a', 3);
SELECT tm_test.complete('results-b', 2);
SELECT results_eq($$SELECT DISTINCT queue_name FROM taskmill.list_results('results-a', NULL, NULL, 100, 0)$$, ARRAY['results-a'],
	'TestConsole_ListResults_ByQueue: only results-a results');
SELECT is((SELECT count(*) FROM taskmill.list_results('results-a', NULL, NULL, 100, 0)), 3::bigint,
	'TestConsole_ListResults_ByQueue: all 3 of them');

SELECT tm_test.complete('results-page', 10);
CREATE TEMP TABLE page_all AS
SELECT row_number() OVER () AS k, id, completed_at FROM taskmill.list_results('results-page', NULL, NULL, 100, 0);
SELECT ok((SELECT bool_and(completed_at < lead_at) OR bool_and(completed_at > lead_at)
           FROM (SELECT completed_at, lead(completed_at) OVER (ORDER BY k) AS lead_at FROM page_all) x WHERE lead_at IS NOT NULL),
	'TestConsole_ListResults_Pagination: results are ordered by completion time');
SELECT results_eq($$SELECT id FROM taskmill.list_results('results-page', NULL, NULL, 3, 2)$$,
	$$SELECT id FROM page_all WHERE k BETWEEN 3 AND 5 ORDER BY k$$,
	'TestConsole_ListResults_Pagination: limit 3 offset 2 returns results 3 to 5');
SELECT is_empty($$SELECT * FROM taskmill.list_results('results-page', NULL, NULL, 3, 10)$$,
	'TestConsole_ListResults_Pagination: an offset past the end returns nothing');

-- ByTimeRange: completed 3 h, 2 h, 1 h ago and now.
SELECT tm_test.complete('results-time', 1, interval '3 hours');
SELECT tm_test.complete('results-time', 1, interval '2 hours');
SELECT tm_test.complete('results-time', 1, interval '1 hour');
SELECT tm_test.complete('results-time', 1);
SELECT results_eq($$SELECT completed_at FROM taskmill.list_results('results-time', now() - interval '150 minutes',
	now() - interval '30 minutes', 100, 0) ORDER BY completed_at$$,
	$$VALUES (now() - interval '2 hours'), (now() - interval '1 hour')$$,
	'TestConsole_ListResults_ByTimeRange: only results completed inside the range');
SELECT is((SELECT count(*) FROM taskmill.list_results('results-time', now() - interval '90 minutes', NULL, 100, 0)), 2::bigint,
	'TestConsole_ListResults_ByTimeRange: completed_after alone');

-- CleanupResults_ByAge: results 2 h old and new; cleanup before 1 h ago.
SELECT tm_test.complete('cleanup-age', 3, interval '2 hours');
SELECT tm_test.complete('cleanup-age', 2);
SELECT ok(taskmill.cleanup_results(NULL, now() - interval '1 hour')::bigint >= 3,
	'TestConsole_CleanupResults_ByAge: cleanup reports the old results deleted');
SELECT is((SELECT count(*) FROM taskmill.task_results WHERE queue_name = 'cleanup-age'), 2::bigint,
	'TestConsole_CleanupResults_ByAge: old deleted, new preserved');
SELECT is((SELECT count(*) FROM taskmill.task_results WHERE completed_at < now() - interval '1 hour'), 0::bigint,
	'TestConsole_CleanupResults_ByAge: no result older than the cut-off remains, in any queue');

-- CleanupResults_ByQueue
SELECT tm_test.complete('cleanup-a', 3);
SELECT tm_test.complete('cleanup-b', 2);
SELECT is(taskmill.cleanup_results('cleanup-a', now() + interval '1 minute')::bigint, 3::bigint,
	'TestConsole_CleanupResults_ByQueue: 3 results of cleanup-a deleted');
SELECT results_eq($$SELECT queue_name, count(*) FROM taskmill.task_results WHERE queue_name LIKE 'cleanup-_' GROUP BY 1 ORDER BY 1$$,
	$$VALUES ('cleanup-b'::text, 2::bigint)$$, 'TestConsole_CleanupResults_ByQueue: only cleanup-a cleaned');

SELECT * FROM finish();
ROLLBACK;
