-- An ack writes a kept task's result row either directly (ack_results.c: a multi-insert
-- after the DELETE) or, when task_results has triggers, row-level security, generated
-- columns or a layout the code does not know, with the SQL statement (ack.c). Both must
-- write the same rows and return the same: this file acks the same tasks once on each
-- path (a trigger on task_results forces the SQL path) and compares every column.
\i test/regress/sql/include/setup.psql

-- One round of acks on queue q: ack, a stale ack, ack_many (a stale lease among them),
-- a FIFO group's head acked by ack_dequeue (which then claims the group's next task),
-- ack_many without results. Returns what each call returned.
CREATE FUNCTION pg_temp.ack_round(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	d record;
	got jsonb := '{}';
	said text[] := '{}';
	claimed text;
BEGIN
	PERFORM taskmill.enqueue(q, 'single', notify => false);
	PERFORM taskmill.enqueue(q, 'given', payload => '{"a": 1}', priority => 5, max_attempts => 7,
		idempotency_key => 'key-given', meta => '{"m": 1}', notify => false);
	-- larger than a page: its payload is TOASTed in tasks and copied out of there
	PERFORM taskmill.enqueue(q, 'big', payload => (SELECT jsonb_agg(md5(i::text))
		FROM generate_series(1, 400) i), notify => false);
	PERFORM taskmill.enqueue(q, 'ephemeral', ephemeral => true, notify => false);
	PERFORM taskmill.enqueue(q, 'no_result', notify => false);
	PERFORM taskmill.enqueue(q, 'head', task_group_id => 'g', notify => false);
	PERFORM taskmill.enqueue(q, 'next', task_group_id => 'g', notify => false);
	FOR d IN SELECT id, lease, operation_id FROM taskmill.dequeue(q, 100) LOOP
		got := got || jsonb_build_object(d.operation_id, jsonb_build_array(d.id, d.lease));
	END LOOP;
	said := said || ('dequeued ' || (SELECT string_agg(k, ',' ORDER BY k) FROM jsonb_object_keys(got) k));

	said := said || ('ack ' || taskmill.ack((got #>> '{single,0}')::bigint,
		(got #>> '{single,1}')::uuid, '{"r": "single"}'));
	said := said || ('seen ' || EXISTS (SELECT FROM taskmill.task_results
		WHERE id = (got #>> '{single,0}')::bigint AND result::jsonb = '{"r": "single"}'));
	said := said || ('ack again ' || taskmill.ack((got #>> '{single,0}')::bigint,
		(got #>> '{single,1}')::uuid, '{"r": "again"}'));
	said := said || ('ack_many ' || taskmill.ack_many(
		ARRAY[(got #>> '{given,0}')::bigint, (got #>> '{big,0}')::bigint,
			  (got #>> '{ephemeral,0}')::bigint, (got #>> '{no_result,0}')::bigint,
			  (got #>> '{head,0}')::bigint],
		ARRAY[(got #>> '{given,1}')::uuid, (got #>> '{big,1}')::uuid,
			  (got #>> '{ephemeral,1}')::uuid, (got #>> '{no_result,1}')::uuid,
			  gen_random_uuid()],
		ARRAY['{"r": 2}', '[3]', '{"r": 4}', NULL, '{"r": "stale"}']::jsonb[]));

	-- the group's head acked: its next task is woken and claimed in the same call
	FOR d IN SELECT id, lease, operation_id FROM taskmill.ack_dequeue(q, 10, '30 seconds',
		ARRAY[(got #>> '{head,0}')::bigint], ARRAY[(got #>> '{head,1}')::uuid],
		ARRAY['{"r": "head"}']::jsonb[]) LOOP
		claimed := d.operation_id;
		said := said || ('ack_many without results ' || taskmill.ack_many(ARRAY[d.id], ARRAY[d.lease]));
	END LOOP;
	said := said || ('ack_dequeue claimed ' || claimed);
	said := said || ('left ' || (SELECT count(*) FROM taskmill.tasks WHERE queue_name = q));
	RETURN array_to_string(said, '; ');
END
$$;

-- The result rows of queue q, without what must differ between two queues (id, queue
-- name; a generated key names the id).
CREATE FUNCTION pg_temp.results_of(q text) RETURNS jsonb LANGUAGE sql AS $$
	SELECT jsonb_agg(jsonb_set(to_jsonb(r) - 'id' - 'queue_name', '{idempotency_key}',
		to_jsonb(CASE WHEN r.idempotency_key = 'taskmill:' || r.id THEN 'generated'
					  ELSE r.idempotency_key END)) ORDER BY r.operation_id)
	FROM taskmill.task_results r WHERE r.queue_name = q
$$;

-- Counts the rows the SQL path inserted (a trigger sends every ack there).
CREATE FUNCTION pg_temp.count_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM set_config('reg.sql_rows',
		(COALESCE(NULLIF(current_setting('reg.sql_rows', true), ''), '0')::int + 1)::text, true);
	RETURN NULL;
END
$$;

BEGIN;	-- one transaction: now() is the same for every task and result
SELECT pg_temp.ack_round('reg_ackres_direct') AS direct;
SELECT operation_id, result, priority, attempts, max_attempts, meta, task_group_id,
       length(payload::text) AS payload_length, created_at = now() AS created,
       scheduled_at = now() AS scheduled, completed_at = now() AS completed
FROM taskmill.task_results WHERE queue_name = 'reg_ackres_direct' ORDER BY operation_id;

CREATE TRIGGER reg_sql_path AFTER INSERT ON taskmill.task_results
	FOR EACH ROW EXECUTE FUNCTION pg_temp.count_row();
SELECT pg_temp.ack_round('reg_ackres_sql') AS sql;
SELECT current_setting('reg.sql_rows') AS sql_path_rows;
SELECT pg_temp.results_of('reg_ackres_direct') = pg_temp.results_of('reg_ackres_sql') AS paths_agree;

-- Columns this code has never heard of get their defaults (constant, per-row
-- expression) on both paths.
ALTER TABLE taskmill.task_results ADD COLUMN regress_extra text DEFAULT 'extra',
	ADD COLUMN regress_at timestamptz DEFAULT now() + interval '1 day';
SELECT pg_temp.ack_round('reg_ackres_new_sql') AS sql;
DROP TRIGGER reg_sql_path ON taskmill.task_results;
SELECT pg_temp.ack_round('reg_ackres_new_direct') AS direct;
SELECT pg_temp.results_of('reg_ackres_new_direct') = pg_temp.results_of('reg_ackres_new_sql') AS new_columns_agree;
SELECT DISTINCT regress_extra, regress_at = now() + interval '1 day' AS tomorrow
FROM taskmill.task_results WHERE queue_name = 'reg_ackres_new_direct';

-- A stored generated column: the SQL statement computes it. Dropped again, it leaves a
-- dropped attribute behind, which the direct path skips.
ALTER TABLE taskmill.task_results ADD COLUMN regress_gen text
	GENERATED ALWAYS AS (operation_id || '!') STORED;
SELECT pg_temp.ack_round('reg_ackres_gen') AS generated;
SELECT DISTINCT regress_gen = operation_id || '!' AS computed
FROM taskmill.task_results WHERE queue_name = 'reg_ackres_gen';
ALTER TABLE taskmill.task_results DROP COLUMN regress_gen;
SELECT pg_temp.ack_round('reg_ackres_dropped') AS direct;
SELECT pg_temp.results_of('reg_ackres_dropped') = pg_temp.results_of('reg_ackres_new_sql') AS dropped_column_agrees;

-- A column of another type than the ack writes: the SQL statement (which converts) is taken.
ALTER TABLE taskmill.task_results ALTER COLUMN result TYPE json;
SELECT pg_temp.ack_round('reg_ackres_json') AS other_type;
SELECT operation_id, result FROM taskmill.task_results
WHERE queue_name = 'reg_ackres_json' ORDER BY operation_id;
ROLLBACK;

-- Back to the table as installed (the cached layout followed the rollback).
BEGIN;
SELECT pg_temp.ack_round('reg_ackres_after') AS direct;
SELECT count(*) AS results FROM taskmill.task_results WHERE queue_name = 'reg_ackres_after';
ROLLBACK;
