-- Fill a database that has taskmill 0.1 with tasks in every state, results and schedules,
-- through the 0.1 API only (the upgrade suite runs it before ALTER EXTENSION UPDATE; a later
-- release whose API differs gets a fill-VERSION.sql of its own). Every queue is named up_*.
-- The states (extension/sql/10_schema.sql derives them from dlq_at, lease, visible_at):
--   up_avail    available: plain, prioritised, with meta, ephemeral, with an idempotency key
--   up_later    scheduled for tomorrow
--   up_flight   two in flight with leases (visibility one hour), one left available
--   up_retry    waiting an hour for the retry after a nack (attempts = 1)
--   up_dlq      in the DLQ: nacked on the last attempt, and expired at a dequeue
--   up_expired  expires_at passed, not yet met by a dequeue
--   up_fifo     FIFO groups: g1 with its head in flight (the group is blocked), g2 idle
--   up_keys     callers' idempotency keys
--   up_done     results: acked with a result, acked without one, an ephemeral ack
--   up_sched    two schedules, one of them triggered (a task with the schedule's key)
-- and table privileges as a 0.1 set-up gave them (before queue rights, a worker role needed
-- them): the update to 0.3 revokes them, all but the view's (verify.sql).
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

SELECT taskmill.enqueue('up_avail', 'plain', pg_catalog.jsonb_build_object('n', g))
FROM pg_catalog.generate_series(1, 10) g;
SELECT taskmill.enqueue('up_avail', 'urgent', '{"why": "prio"}', priority => 50);
SELECT taskmill.enqueue('up_avail', 'low', NULL, priority => -20, max_attempts => 7,
                        meta => '{"trace": "abc", "unicode": "žluťoučký kůň 🐴"}');
SELECT taskmill.enqueue('up_avail', 'fleeting', '{"e": true}', ephemeral => true);
SELECT taskmill.enqueue('up_avail', 'keyed', '{"k": 1}', idempotency_key => 'avail-key-1');
SELECT taskmill.enqueue_batch('up_avail', '[{"operation_id": "batch", "payload": {"i": 1}},
                                            {"operation_id": "batch", "payload": {"i": 2}, "priority": 3}]');
SELECT taskmill.enqueue_arrays('up_avail', ARRAY['arr', 'arr'], ARRAY['{"a": 1}', '{"a": 2}']::jsonb[]);

SELECT taskmill.enqueue('up_later', 'tomorrow', pg_catalog.jsonb_build_object('n', g),
                        scheduled_at => pg_catalog.now() + interval '1 day')
FROM pg_catalog.generate_series(1, 3) g;

SELECT taskmill.enqueue('up_flight', 'work', pg_catalog.jsonb_build_object('n', g))
FROM pg_catalog.generate_series(1, 3) g;
SELECT pg_catalog.count(*) AS in_flight FROM taskmill.dequeue('up_flight', 2, '1 hour');

SELECT taskmill.enqueue('up_retry', 'flaky', pg_catalog.jsonb_build_object('n', g))
FROM pg_catalog.generate_series(1, 2) g;
DO $$
DECLARE r record;
BEGIN
	FOR r IN SELECT * FROM taskmill.dequeue('up_retry', 2, '1 minute') LOOP
		ASSERT taskmill.nack(r.id, r.lease, 'upstream 503', '1 hour') = 'retry';
	END LOOP;
END $$;

SELECT taskmill.enqueue('up_dlq', 'doomed', '{"d": 1}', max_attempts => 1);
SELECT taskmill.enqueue('up_dlq', 'late', '{"d": 2}', expires_at => pg_catalog.now() - interval '1 minute');
DO $$
DECLARE r record;
BEGIN
	FOR r IN SELECT * FROM taskmill.dequeue('up_dlq', 10, '1 minute') LOOP
		ASSERT taskmill.nack(r.id, r.lease, 'permanent failure') = 'dlq';
	END LOOP;
END $$;

SELECT taskmill.enqueue('up_expired', 'stale', pg_catalog.jsonb_build_object('n', g),
                        expires_at => pg_catalog.now() - interval '1 second')
FROM pg_catalog.generate_series(1, 2) g;

SELECT taskmill.enqueue('up_fifo', 'step', pg_catalog.jsonb_build_object('g', 'g1', 'step', g),
                        task_group_id => 'g1')
FROM pg_catalog.generate_series(1, 3) g;
SELECT taskmill.enqueue('up_fifo', 'step', pg_catalog.jsonb_build_object('g', 'g2', 'step', g),
                        task_group_id => 'g2')
FROM pg_catalog.generate_series(1, 2) g;
SELECT pg_catalog.count(*) AS fifo_in_flight FROM taskmill.dequeue('up_fifo', 1, '1 hour', 'g1');

SELECT taskmill.enqueue('up_keys', 'keyed', pg_catalog.jsonb_build_object('n', g),
                        idempotency_key => 'key-' || g)
FROM pg_catalog.generate_series(1, 3) g;

SELECT taskmill.enqueue('up_done', 'finish', pg_catalog.jsonb_build_object('n', g))
FROM pg_catalog.generate_series(1, 3) g;
SELECT taskmill.enqueue('up_done', 'finish', '{"e": 1}', ephemeral => true);
DO $$
DECLARE r record;
BEGIN
	FOR r IN SELECT * FROM taskmill.dequeue('up_done', 10, '1 minute') LOOP
		ASSERT taskmill.ack(r.id, r.lease,
			CASE WHEN r.payload->>'n' = '2' THEN NULL
				 ELSE pg_catalog.jsonb_build_object('ok', r.payload) END);
	END LOOP;
END $$;

SELECT taskmill.register_schedules('up_sched', $$[
  {"operation_id": "nightly", "cron": "0 3 * * *", "timezone": "Europe/London",
   "payload": {"report": "daily"}, "options": {"priority": 10, "expires_in": "2 hours"}},
  {"operation_id": "hourly", "cron": "@hourly"}
]$$);
SELECT taskmill.trigger_schedule('hourly', queue_name => 'up_sched') IS NOT NULL AS triggered;

-- Table privileges: a worker role on every table and sequence (with grant option), a role
-- with two columns of tasks, PUBLIC on results, and a monitoring role on a view.
DO $$
DECLARE r text;
BEGIN
	FOREACH r IN ARRAY ARRAY['up_table_worker', 'up_table_reporter', 'up_table_monitor'] LOOP
		IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r) THEN
			EXECUTE pg_catalog.format('CREATE ROLE %I', r);
		END IF;
	END LOOP;
END $$;
GRANT SELECT, INSERT, UPDATE, DELETE ON taskmill.tasks, taskmill.task_results, taskmill.task_schedules
	TO up_table_worker WITH GRANT OPTION;
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA taskmill TO up_table_worker;
GRANT SELECT (queue_name, payload) ON taskmill.tasks TO up_table_reporter;
GRANT SELECT ON taskmill.task_results TO PUBLIC;
GRANT SELECT ON taskmill.health TO up_table_monitor;

-- The fill did what the comments above say.
DO $$
DECLARE s record;
BEGIN
	SELECT * INTO s FROM taskmill.queue_stats('up_avail');
	ASSERT (s.available, s.total) = (18, 18), 'up_avail ' || s::text;
	SELECT * INTO s FROM taskmill.queue_stats('up_later');
	ASSERT (s.scheduled, s.total) = (3, 3), 'up_later ' || s::text;
	SELECT * INTO s FROM taskmill.queue_stats('up_flight');
	ASSERT (s.in_flight, s.available) = (2, 1), 'up_flight ' || s::text;
	SELECT * INTO s FROM taskmill.queue_stats('up_retry');
	ASSERT (s.retrying, s.total) = (2, 2), 'up_retry ' || s::text;
	SELECT * INTO s FROM taskmill.queue_stats('up_dlq');
	ASSERT (s.in_dlq, s.total) = (2, 2), 'up_dlq ' || s::text;
	SELECT * INTO s FROM taskmill.queue_stats('up_fifo');
	ASSERT (s.in_flight, s.available) = (1, 4), 'up_fifo ' || s::text;
	ASSERT (SELECT pg_catalog.count(*) FROM taskmill.task_results WHERE queue_name = 'up_done') = 3;
	ASSERT (SELECT pg_catalog.count(*) FROM taskmill.task_schedules WHERE queue_name = 'up_sched') = 2;
	ASSERT (SELECT pg_catalog.count(*) FROM taskmill.tasks WHERE queue_name = 'up_sched') = 1;
END $$;
