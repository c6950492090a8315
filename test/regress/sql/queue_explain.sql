-- The dequeue statement uses its partial indexes: no sequential scan, whatever else the
-- queue holds (in-flight deliveries, a DLQ, FIFO groups, other queues). Fewer rows than
-- ANALYZE samples, so the statistics and the plan are the same on every run.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS taskmill;
RESET client_min_messages;

INSERT INTO taskmill.tasks (queue_name, operation_id)
SELECT 'reg_big', 'op' FROM generate_series(1, 15000);
INSERT INTO taskmill.tasks (queue_name, operation_id, lease, visible_at, attempts)
SELECT 'reg_big', 'op', gen_random_uuid(), now() + interval '1 hour', 1 FROM generate_series(1, 1000);
INSERT INTO taskmill.tasks (queue_name, operation_id, dlq_at, dlq_reason)
SELECT 'reg_big', 'op', now(), 'x' FROM generate_series(1, 1000);
INSERT INTO taskmill.tasks (queue_name, operation_id, task_group_id)
SELECT 'reg_big', 'op', 'g' || (i % 50) FROM generate_series(1, 500) i;
INSERT INTO taskmill.tasks (queue_name, operation_id)
SELECT 'reg_big_other', 'op' FROM generate_series(1, 3000);
ANALYZE taskmill.tasks;

-- Saved SPI plans become generic: show that plan.
SET plan_cache_mode = force_generic_plan;
DO $$ BEGIN EXECUTE format('PREPARE dq(text, int, interval) AS %s', taskmill.dequeue_sql()); END $$;
EXPLAIN (COSTS OFF) EXECUTE dq('reg_big', 10, '30 seconds');
DO $$ BEGIN EXECUTE format('PREPARE dqg(text, int, interval, text) AS %s', taskmill.dequeue_sql(true)); END $$;
EXPLAIN (COSTS OFF) EXECUTE dqg('reg_big', 10, '30 seconds', 'g1');
DEALLOCATE dq;
DEALLOCATE dqg;
RESET plan_cache_mode;

-- Custom plans too (the saved plans in plans.c are generic, but a caller's PREPARE of
-- dequeue_sql() may get custom ones), with real batch sizes:
-- still no sequential scan. (Joining the picked rows back by ctid once became a hash join
-- over a Seq Scan of the table for large batches; the claim now takes them as one array.)
CREATE FUNCTION pg_temp.seq_scans(stmt text) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
	line text;
	n int := 0;
BEGIN
	FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || stmt LOOP
		IF line ~ 'Seq Scan' THEN
			n := n + 1;
		END IF;
	END LOOP;
	RETURN n;
END
$$;
SET plan_cache_mode = force_custom_plan;
DO $$ BEGIN EXECUTE format('PREPARE dq(text, int, interval) AS %s', taskmill.dequeue_sql()); END $$;
SELECT b AS batch_size, pg_temp.seq_scans(format('EXECUTE dq(%L, %s, %L)', 'reg_big', b, '30 seconds')) AS seq_scans
FROM unnest(ARRAY[1, 10, 100, 1000, 10000]) b;
DEALLOCATE dq;
RESET plan_cache_mode;

-- And it claims the head of the queue.
SELECT count(*), min(attempts), max(attempts) FROM taskmill.dequeue('reg_big', 100);
SELECT count(*) AS group_head FROM taskmill.dequeue('reg_big', 10000, '30 seconds', 'g1');

-- Every hot statement (taskmill.hot_statements()), generic plan: which indexes it uses,
-- and no sequential scan.
CREATE FUNCTION pg_temp.plan_summary(stmt_name text, types text, stmt text,
	OUT seq_scans int, OUT indexes text) LANGUAGE plpgsql AS $$
DECLARE
	line text;
	n int := array_length(string_to_array(types, ','), 1);
	idx text[] := '{}';
BEGIN
	EXECUTE format('PREPARE hs(%s) AS %s', types, stmt);
	seq_scans := 0;
	FOR line IN EXECUTE format('EXPLAIN (COSTS OFF) EXECUTE hs(%s)',
							   array_to_string(array_fill('NULL'::text, ARRAY[n]), ', '))
	LOOP
		IF line ~ 'Seq Scan' THEN
			seq_scans := seq_scans + 1;
		END IF;
		IF line ~ ' using \w+' THEN
			idx := idx || (regexp_match(line, ' using (\w+)'))[1];
		END IF;
	END LOOP;
	DEALLOCATE hs;
	indexes := (SELECT string_agg(DISTINCT i, ', ' ORDER BY i) FROM unnest(idx) i);
END
$$;
SET plan_cache_mode = force_generic_plan;
SELECT h.name, s.seq_scans, s.indexes
FROM taskmill.hot_statements() h, pg_temp.plan_summary(h.name, h.param_types, h.statement) s
ORDER BY h.name;
RESET plan_cache_mode;
