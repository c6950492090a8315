-- A busy queue database for test/suites/dump_restore.sh: tasks in every state, results,
-- schedules. dr_work holds work the CLI worker's example handlers complete (echo, flaky)
-- in every state that resolves within seconds, so that a worker can drain it after the
-- restore; the other queues hold the states that last (DLQ, tomorrow, expired, results).
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

-- dr_work: waiting for a retry after a nack (first, while they are the queue's only tasks) ...
SELECT taskmill.enqueue('dr_work', 'flaky', pg_catalog.jsonb_build_object('retry', g))
FROM pg_catalog.generate_series(1, 2) g;
DO $$
DECLARE r record;
BEGIN
	FOR r IN SELECT * FROM taskmill.dequeue('dr_work', 2, '1 minute') LOOP
		ASSERT taskmill.nack(r.id, r.lease, 'first attempt fails', '2 seconds') = 'retry';
	END LOOP;
END $$;
-- ... available (mixed priorities, keys, meta, one ephemeral) ...
SELECT taskmill.enqueue('dr_work', 'echo', pg_catalog.jsonb_build_object('n', g), priority => g % 3)
FROM pg_catalog.generate_series(1, 20) g;
SELECT taskmill.enqueue('dr_work', 'echo', '{"key": 1}', idempotency_key => 'dr-key-1');
SELECT taskmill.enqueue('dr_work', 'echo', '{"key": 2}', idempotency_key => 'dr-key-2',
                        meta => '{"trace": "t-2", "note": "ünïcödé ✓"}');
SELECT taskmill.enqueue('dr_work', 'echo', '{"ephemeral": true}', ephemeral => true);
SELECT taskmill.enqueue_batch('dr_work', '[{"operation_id": "echo", "payload": {"batch": 1}},
                                           {"operation_id": "flaky", "payload": {"succeed_on": 2}}]');
-- ... scheduled for a few seconds from now ...
SELECT taskmill.enqueue('dr_work', 'echo', '{"later": true}', scheduled_at => pg_catalog.now() + interval '3 seconds');
-- ... FIFO groups ...
SELECT taskmill.enqueue('dr_work', 'echo', pg_catalog.jsonb_build_object('group', 'a', 'step', g), task_group_id => 'a')
FROM pg_catalog.generate_series(1, 3) g;
SELECT taskmill.enqueue('dr_work', 'echo', pg_catalog.jsonb_build_object('group', 'b', 'step', g), task_group_id => 'b')
FROM pg_catalog.generate_series(1, 2) g;
-- ... and in flight (a worker that dies with them: visible again 2 s after the claim), group
-- a's head among them.
SELECT pg_catalog.count(*) FROM taskmill.dequeue('dr_work', 1, '2 seconds', 'a');
SELECT pg_catalog.count(*) FROM taskmill.dequeue('dr_work', 3, '2 seconds');
-- The states that last.
SELECT taskmill.enqueue('dr_dlq', 'doomed', pg_catalog.jsonb_build_object('n', g), max_attempts => 1)
FROM pg_catalog.generate_series(1, 2) g;
DO $$
DECLARE r record;
BEGIN
	FOR r IN SELECT * FROM taskmill.dequeue('dr_dlq', 10, '1 minute') LOOP
		ASSERT taskmill.nack(r.id, r.lease, 'permanent failure') = 'dlq';
	END LOOP;
END $$;
SELECT taskmill.enqueue('dr_later', 'tomorrow', '{}', scheduled_at => pg_catalog.now() + interval '1 day');
SELECT taskmill.enqueue('dr_expired', 'stale', '{}', expires_at => pg_catalog.now() - interval '1 second');
SELECT taskmill.enqueue('dr_done', 'finish', pg_catalog.jsonb_build_object('n', g))
FROM pg_catalog.generate_series(1, 3) g;
DO $$
DECLARE r record;
BEGIN
	FOR r IN SELECT * FROM taskmill.dequeue('dr_done', 10, '1 minute') LOOP
		ASSERT taskmill.ack(r.id, r.lease, pg_catalog.jsonb_build_object('done', r.payload));
	END LOOP;
END $$;
SELECT taskmill.register_schedules('dr_sched', $$[
  {"operation_id": "nightly", "cron": "0 3 * * *", "timezone": "America/New_York",
   "payload": {"report": "daily"}, "options": {"priority": 5}},
  {"operation_id": "hourly", "cron": "@hourly"}
]$$);
SELECT taskmill.trigger_schedule('hourly', queue_name => 'dr_sched');
