-- The direct INSERT (direct_insert.c: tasks without a caller's key) and the SQL statement
-- (tasks with one) must write the same rows, with the table's own defaults: this file fails
-- when the table and the direct path disagree (a column added, a default changed).
\i test/regress/sql/include/setup.psql

-- A task's row without what must differ between two tasks (id, key).
CREATE FUNCTION pg_temp.row_of(task_id bigint) RETURNS jsonb LANGUAGE sql AS $$
	SELECT to_jsonb(t) - 'id' - 'idempotency_key' FROM taskmill.tasks t WHERE t.id = task_id
$$;
-- The rows of a batch, in order.
CREATE FUNCTION pg_temp.rows_of(ids bigint[]) RETURNS jsonb LANGUAGE sql AS $$
	SELECT jsonb_agg(pg_temp.row_of(i) ORDER BY o) FROM unnest(ids) WITH ORDINALITY AS u(i, o)
$$;

BEGIN;	-- one transaction: now() is the same for every task
-- every field left to its default
SELECT pg_temp.row_of(taskmill.enqueue('reg_direct', 'op', notify => false))
     = pg_temp.row_of(taskmill.enqueue('reg_direct', 'op', idempotency_key => 'k1', notify => false)) AS defaults_agree;
SELECT payload, meta, priority, attempts, max_attempts, ephemeral, scheduled_at = now() AS now,
       visible_at = scheduled_at AS visible, created_at = now() AS created
FROM taskmill.tasks WHERE idempotency_key = 'k1';
-- every field given
SELECT pg_temp.row_of(taskmill.enqueue('reg_direct', 'op', '{"a": 1}', 5, 7, '2030-01-01 00:00+00',
	'2030-01-02 00:00+00', 'g', NULL, true, '{"m": 1}', false))
     = pg_temp.row_of(taskmill.enqueue('reg_direct', 'op', '{"a": 1}', 5, 7, '2030-01-01 00:00+00',
	'2030-01-02 00:00+00', 'g', 'k2', true, '{"m": 1}', false)) AS given_agree;
-- a batch, direct (no key) and through the SQL statement (one key sends it all there)
SELECT pg_temp.rows_of(taskmill.enqueue_batch('reg_direct',
	'[{"operation_id": "b"}, {"operation_id": "c", "priority": 5, "meta": {"x": 1}}]', false))
     = pg_temp.rows_of(taskmill.enqueue_batch('reg_direct',
	'[{"operation_id": "b"}, {"operation_id": "c", "priority": 5, "meta": {"x": 1}, "idempotency_key": "k3"}]', false))
	AS batch_agree;

-- Defaults come from the table: change them and both paths follow.
ALTER TABLE taskmill.tasks ALTER COLUMN priority SET DEFAULT 7;
ALTER TABLE taskmill.tasks ALTER COLUMN max_attempts SET DEFAULT 9;
ALTER TABLE taskmill.tasks ALTER COLUMN meta SET DEFAULT '{"d": true}';
SELECT taskmill.enqueue('reg_direct', 'd', notify => false) AS direct_id,
       taskmill.enqueue('reg_direct', 'd', idempotency_key => 'k4', notify => false) AS sql_id,
       taskmill.enqueue_arrays('reg_direct', ARRAY['e', 'f'], notify => false) AS batch_ids \gset
SELECT id = :direct_id AS direct, priority, max_attempts, meta FROM taskmill.tasks
WHERE id IN (:direct_id, :sql_id) OR id = ANY (:'batch_ids') ORDER BY id;

-- A column this code has never heard of gets its default on both paths.
ALTER TABLE taskmill.tasks ADD COLUMN regress_extra text DEFAULT 'extra';
SELECT pg_temp.row_of(taskmill.enqueue('reg_direct', 'x', notify => false))
     = pg_temp.row_of(taskmill.enqueue('reg_direct', 'x', idempotency_key => 'k5', notify => false)) AS new_column_agrees;
SELECT DISTINCT regress_extra FROM taskmill.tasks WHERE operation_id = 'x';
ROLLBACK;

-- Back to the schema's defaults (the cached defaults followed the rollback).
SELECT taskmill.enqueue('reg_direct', 'z', notify => false) AS z_id \gset
SELECT priority, max_attempts, meta FROM taskmill.tasks WHERE id = :z_id;
DELETE FROM taskmill.tasks WHERE queue_name = 'reg_direct';

-- The per-row expressions a direct insert planned once (insert_exprs.c) follow the table:
-- a CHECK and a partial index added after this session's first enqueue apply to the next.
BEGIN;
ALTER TABLE taskmill.tasks ADD CONSTRAINT regress_no_42 CHECK (priority <> 42);
CREATE INDEX regress_priority_7_idx ON taskmill.tasks (id) WHERE priority = 7;
SAVEPOINT s;
\set VERBOSITY terse
SELECT taskmill.enqueue('reg_direct', 'checked', priority => 42, notify => false);
\set VERBOSITY default
ROLLBACK TO s;
SELECT taskmill.enqueue('reg_direct', 'indexed', priority => 7, notify => false) AS p7_id \gset
SET LOCAL enable_seqscan = off;
SET LOCAL enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM taskmill.tasks WHERE priority = 7 AND queue_name = 'reg_direct';
SELECT array_agg(id) = ARRAY[:p7_id]::bigint[] AS partial_index_has_it
FROM taskmill.tasks WHERE priority = 7 AND queue_name = 'reg_direct';
ROLLBACK;
SELECT taskmill.enqueue('reg_direct', 'after', priority => 42, notify => false) > 0 AS check_gone;
DELETE FROM taskmill.tasks WHERE queue_name = 'reg_direct';
