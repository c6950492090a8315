-- Console functions and operator views.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS taskmill;
RESET client_min_messages;
SET timezone = 'UTC';

-- Console.ListQueues_Empty / Stats_Empty (Edge.EmptyQueue_Stats)
SELECT count(*) FROM taskmill.list_queues() WHERE queue_name LIKE 'reg_adm%';
SELECT * FROM taskmill.queue_stats('reg_adm_nothing');

-- Console.Stats_Mixed: available 1 (op7), in flight 1 (op4), scheduled 3 (later, and op1
-- and op5 retrying), in the DLQ 1 (op6, max_attempts 1)
SELECT count(taskmill.enqueue('reg_adm_a', 'op' || i, max_attempts => CASE WHEN i >= 6 THEN 1 ELSE 3 END))
FROM generate_series(1, 7) i;
SELECT taskmill.enqueue('reg_adm_a', 'later', scheduled_at => now() + interval '1 day') > 0;
CREATE TEMP TABLE d AS SELECT * FROM taskmill.dequeue('reg_adm_a', 4, '1 hour');
SELECT operation_id, taskmill.nack(id, lease, 'no') FROM d WHERE operation_id IN ('op1') ORDER BY 1;
CREATE TEMP TABLE d2 AS SELECT * FROM taskmill.dequeue('reg_adm_a', 2, '1 hour');
SELECT operation_id, taskmill.nack(id, lease, 'fatal') FROM d2 ORDER BY 1;
SELECT operation_id, taskmill.ack(id, lease, jsonb_build_object('op', operation_id))
FROM d WHERE operation_id IN ('op2', 'op3') ORDER BY 1;
SELECT * FROM taskmill.queue_stats('reg_adm_a');
SELECT taskmill.enqueue('reg_adm_b', 'x') > 0;
SELECT * FROM taskmill.list_queues() WHERE queue_name LIKE 'reg_adm%';

-- list_dlq: newest first
SELECT queue_name, operation_id, dlq_reason FROM taskmill.list_dlq('reg_adm_a') ORDER BY operation_id;
SELECT count(*) FROM taskmill.list_dlq('reg_adm_a', "limit" => 1);
SELECT count(*) FROM taskmill.list_dlq("offset" => 0) WHERE queue_name = 'reg_adm_a';

-- Console.ListResults_All / ByQueue / Pagination / ByTimeRange
SELECT count(taskmill.enqueue('reg_adm_r', 'r' || i)) FROM generate_series(1, 10) i;
DO $$
DECLARE
	t record;
BEGIN
	FOR t IN SELECT * FROM taskmill.dequeue('reg_adm_r', 10) ORDER BY id LOOP
		PERFORM taskmill.ack(t.id, t.lease, jsonb_build_object('n', t.operation_id));
	END LOOP;
END
$$;
-- spread the completions over ten hours, r1 the oldest
UPDATE taskmill.task_results SET completed_at = '2030-01-01 00:00+00'::timestamptz
	+ (substr(operation_id, 2)::int * interval '1 hour')
WHERE queue_name = 'reg_adm_r';
SELECT operation_id FROM taskmill.list_results('reg_adm_r');
SELECT operation_id FROM taskmill.list_results('reg_adm_r', "limit" => 3, "offset" => 2);
SELECT operation_id FROM taskmill.list_results(queue_name => 'reg_adm_r',
	completed_after => '2030-01-01 03:00+00', completed_before => '2030-01-01 06:00+00');
SELECT count(*) FROM taskmill.list_results("limit" => 1000) WHERE queue_name LIKE 'reg_adm%';
SELECT count(*) FROM taskmill.list_results('reg_adm_a');

-- Console.CleanupResults_ByAge / ByQueue
SELECT taskmill.cleanup_results('reg_adm_r', '2030-01-01 04:00+00');
SELECT operation_id FROM taskmill.list_results('reg_adm_r', "limit" => 3);
SELECT taskmill.cleanup_results(queue_name => 'reg_adm_a');
SELECT (SELECT count(*) FROM taskmill.task_results WHERE queue_name = 'reg_adm_a') AS a,
       (SELECT count(*) FROM taskmill.task_results WHERE queue_name = 'reg_adm_r') AS r;

-- Console.Purge / PurgeDLQ: purge keeps the DLQ, purge_dlq keeps the rest
SELECT taskmill.purge('reg_adm_a');
SELECT * FROM taskmill.queue_stats('reg_adm_a');
SELECT count(taskmill.enqueue('reg_adm_a', 'again')) FROM generate_series(1, 2);
SELECT taskmill.purge_dlq('reg_adm_a');
SELECT * FROM taskmill.queue_stats('reg_adm_a');
SELECT taskmill.purge('reg_adm_nothing'), taskmill.purge_dlq('reg_adm_nothing');

-- Operator views
SELECT table_name, live_tuples >= 0 AS has_live, dead_tuples >= 0 AS has_dead
FROM taskmill.table_health WHERE table_name IN ('tasks', 'task_results') ORDER BY 1;
SELECT notify_queue_usage >= 0 AS notify_usage, COALESCE(oldest_xmin_age, 0) >= 0 AS xmin_age,
       tasks_dead_tuples >= 0 AS dead
FROM taskmill.health;
-- the backend reading the view is never one of the holders (its own snapshot is not news)
SELECT count(*) = 0 AS not_this_backend FROM taskmill.xmin_holders
WHERE kind = 'backend' AND split_part(holder, ' ', 1) = pg_backend_pid()::text;
