-- The console's reads (taskmill.console_statements(): list_queues, queue_stats,
-- list_results) cost what their answer is worth: index scans only, never a sequential scan
-- of tasks or task_results, whatever else the tables hold; and their answers are those of
-- the plain counts over the tables. Fewer rows than ANALYZE samples, so the statistics and
-- the plans are the same on every run.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS taskmill;
RESET client_min_messages;

-- A big queue in every state (ready, due and not yet due; waiting for later and waiting
-- but due; in flight; timed out; dead), small queues, a one-task queue, a queue with
-- results only.
INSERT INTO taskmill.tasks (queue_name, operation_id)
SELECT 'reg_con_big', 'op' FROM generate_series(1, 12000);
INSERT INTO taskmill.tasks (queue_name, operation_id, visible_at, attempts)
SELECT 'reg_con_big', 'op', now() + interval '1 hour', i % 2 FROM generate_series(1, 300) i;
INSERT INTO taskmill.tasks (queue_name, operation_id, waiting, visible_at, attempts)
SELECT 'reg_con_big', 'op', true, now() + interval '1 hour', i % 3 FROM generate_series(1, 400) i;
INSERT INTO taskmill.tasks (queue_name, operation_id, waiting, visible_at, attempts)
SELECT 'reg_con_big', 'op', true, now() - interval '1 minute', 1 FROM generate_series(1, 50);
INSERT INTO taskmill.tasks (queue_name, operation_id, lease, visible_at, attempts)
SELECT 'reg_con_big', 'op', gen_random_uuid(), now() + interval '1 hour', 1 FROM generate_series(1, 700);
INSERT INTO taskmill.tasks (queue_name, operation_id, lease, visible_at, attempts)
SELECT 'reg_con_big', 'op', gen_random_uuid(), now() - interval '1 minute', 1 FROM generate_series(1, 30);
INSERT INTO taskmill.tasks (queue_name, operation_id, dlq_at, dlq_reason)
SELECT 'reg_con_big', 'op', now(), 'x' FROM generate_series(1, 800);
INSERT INTO taskmill.tasks (queue_name, operation_id)
SELECT 'reg_con_q' || (i % 9), 'op' FROM generate_series(1, 2700) i;
INSERT INTO taskmill.tasks (queue_name, operation_id) VALUES ('reg_con_tiny', 'op');
INSERT INTO taskmill.task_results (id, queue_name, operation_id, priority, attempts, max_attempts,
	idempotency_key, created_at, scheduled_at, completed_at)
SELECT -i, CASE WHEN i % 10 = 0 THEN 'reg_con_q1' WHEN i % 10 = 1 THEN 'reg_con_done' ELSE 'reg_con_big' END,
	'op' || i, 0, 1, 3, 'k' || i, now(), now(),
	-- a few share a completed_at: the keyset cursor must still page through them
	'2030-01-01 00:00+00'::timestamptz - (i / 3) * interval '1 second'
FROM generate_series(1, 6000) i;
ANALYZE taskmill.tasks;
ANALYZE taskmill.task_results;

-- Every statement as its saved plan runs (generic), executed: which indexes it reads,
-- and no sequential scan. (EXPLAIN without ANALYZE leaves out the subplans of
-- list_queues' recursive step.)
CREATE FUNCTION pg_temp.console_plan(stmt_name text, types text, stmt text, args text,
	OUT seq_scans int, OUT indexes text) LANGUAGE plpgsql AS $$
DECLARE
	line text;
	idx text[] := '{}';
BEGIN
	EXECUTE format('PREPARE cs(%s) AS %s', types, stmt);
	seq_scans := 0;
	FOR line IN EXECUTE format('EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) EXECUTE cs(%s)', args)
	LOOP
		IF line ~ 'Seq Scan' THEN
			seq_scans := seq_scans + 1;
		END IF;
		IF line ~ '( using | Index Scan on )\w+' THEN
			idx := idx || (regexp_match(line, '(?: using | Index Scan on )(\w+)'))[1];
		END IF;
	END LOOP;
	DEALLOCATE cs;
	indexes := (SELECT string_agg(DISTINCT i, ', ' ORDER BY i) FROM unnest(idx) i);
END
$$;
SET plan_cache_mode = force_generic_plan;
SELECT c.name, a.args, p.seq_scans, p.indexes
FROM taskmill.console_statements() c
JOIN (VALUES ('list_queues', 'NULL, true'),
			 ('queue_stats', '''reg_con_tiny'', NULL, true'),
			 ('queue_stats', '''reg_con_big'', NULL, true'),
			 ('list_results', '''reg_con_big'', NULL, NULL, 100, 0, NULL, NULL, true'),
			 ('list_results', '''reg_con_big'', NULL, ''2029-12-31 23:00+00'', 100, 0, -1500, NULL, true'),
			 ('list_results_all_queues', 'NULL, NULL, NULL, 100, 0, NULL, NULL, true'),
			 ('list_results_all_queues', 'NULL, NULL, NULL, 100, 0, NULL, ''pg_monitor'', false')) a(name, args)
	USING (name),
	LATERAL pg_temp.console_plan(c.name, c.param_types, c.statement, a.args) p
ORDER BY c.name, a.args;
RESET plan_cache_mode;

-- The answers are the plain counts' (the states as 10_schema.sql defines them).
SELECT q, s.* FROM taskmill.list_queues() q, taskmill.queue_stats(q) s
WHERE q LIKE 'reg_con%' ORDER BY q;
SELECT count(*) AS differing FROM taskmill.list_queues() q, taskmill.queue_stats(q) s,
	LATERAL (SELECT count(*) FILTER (WHERE t.dlq_at IS NULL AND t.visible_at <= now()) AS available,
					count(*) FILTER (WHERE t.dlq_at IS NULL AND t.lease IS NOT NULL AND t.visible_at > now()) AS in_flight,
					count(*) FILTER (WHERE t.dlq_at IS NULL AND t.lease IS NULL AND t.visible_at > now()) AS scheduled,
					count(*) FILTER (WHERE t.dlq_at IS NULL AND t.lease IS NULL AND t.attempts > 0
									 AND t.visible_at > now()) AS retrying,
					count(*) FILTER (WHERE t.dlq_at IS NOT NULL) AS in_dlq,
					count(*) AS total
			 FROM taskmill.tasks t WHERE t.queue_name = q) c
WHERE (s.available, s.in_flight, s.scheduled, s.retrying, s.in_dlq, s.total)
	IS DISTINCT FROM (c.available, c.in_flight, c.scheduled, c.retrying, c.in_dlq, c.total);
SELECT ARRAY(SELECT taskmill.list_queues()) = ARRAY(
	SELECT queue_name FROM taskmill.tasks UNION SELECT queue_name FROM taskmill.task_results
	ORDER BY 1) AS list_queues_is_every_queue;

-- Keyset pages (completed_before and after_id of the previous page's last row) list the
-- same rows as one long listing, ties of completed_at included; so do offset pages.
CREATE FUNCTION pg_temp.keyset_pages(queue text, page int) RETURNS bigint[] LANGUAGE plpgsql AS $$
DECLARE
	ids bigint[] := '{}';
	last_at timestamptz;
	last_id bigint;
	r record;
	n int;
BEGIN
	LOOP
		n := 0;
		FOR r IN SELECT * FROM taskmill.list_results(queue, completed_before => last_at,
													 "limit" => page, after_id => last_id) LOOP
			ids := ids || r.id;
			last_at := r.completed_at;
			last_id := r.id;
			n := n + 1;
		END LOOP;
		EXIT WHEN n < page;
	END LOOP;
	RETURN ids;
END
$$;
SELECT queue,
	   cardinality(pg_temp.keyset_pages(queue, 7)) AS listed,
	   pg_temp.keyset_pages(queue, 7) = ARRAY(SELECT id FROM taskmill.list_results(queue, "limit" => 100000))
		   AS keyset_same,
	   pg_temp.keyset_pages(queue, 100000) = ARRAY(SELECT id FROM taskmill.list_results(queue, "limit" => 100000))
		   AS one_page_same,
	   ARRAY(SELECT id FROM taskmill.list_results(queue, "limit" => 100000)) = ARRAY(
		   SELECT id FROM taskmill.task_results
		   WHERE queue IS NULL OR queue_name = queue ORDER BY completed_at DESC, id DESC) AS order_same,
	   ARRAY(SELECT id FROM taskmill.list_results(queue, "limit" => 5, "offset" => 1000)) = ARRAY(
		   SELECT id FROM taskmill.task_results
		   WHERE queue IS NULL OR queue_name = queue ORDER BY completed_at DESC, id DESC
		   LIMIT 5 OFFSET 1000) AS offset_same
FROM (VALUES ('reg_con_big'), ('reg_con_done'), (NULL)) v(queue)
ORDER BY queue;
-- after_id continues after a row: it needs that row's completed_at
SELECT * FROM taskmill.list_results('reg_con_big', after_id => 5);

-- Leave the other tests the tables as they were.
DELETE FROM taskmill.tasks WHERE queue_name LIKE 'reg_con%';
DELETE FROM taskmill.task_results WHERE queue_name LIKE 'reg_con%';
