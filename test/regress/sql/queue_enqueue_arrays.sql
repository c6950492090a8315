-- enqueue_arrays: the array form of enqueue_batch (one array per field, task i = element i).
\i test/regress/sql/include/setup.psql

-- EnqueueBatch.Arrays_Success: ids in input order, NULL arrays and NULL elements = defaults
SELECT cardinality(taskmill.enqueue_arrays('reg_arr',
	ARRAY['a', 'b', 'c'],
	payloads => ARRAY['{"n": 1}', NULL, '[2]']::jsonb[],
	priorities => ARRAY[5, NULL, -5],
	max_attempts => ARRAY[NULL, 7, NULL],
	scheduled_ats => ARRAY[NULL, '2030-01-01 00:00+00', NULL]::timestamptz[],
	expires_ats => ARRAY[NULL, '2030-01-02 00:00+00', NULL]::timestamptz[],
	task_group_ids => ARRAY[NULL, 'g1', NULL],
	idempotency_keys => ARRAY['k-a', NULL, NULL],
	ephemerals => ARRAY[NULL, true, NULL],
	metas => ARRAY[NULL, '{"m": 1}', NULL]::jsonb[],
	notify => false)) AS n;
SELECT operation_id, payload, meta, priority, max_attempts, task_group_id,
       CASE WHEN idempotency_key = 'k-a' THEN idempotency_key ELSE 'generated' END AS key,
       ephemeral, scheduled_at <= now() AS scheduled_now, visible_at = scheduled_at AS visible_when_scheduled,
       expires_at
FROM taskmill.tasks WHERE queue_name = 'reg_arr' ORDER BY id;
-- the ids come back in input order
SELECT taskmill.enqueue_arrays('reg_arr_order', ARRAY['x', 'y', 'z']) AS ids \gset
SELECT array_agg(t.operation_id ORDER BY u.ord) AS ops
FROM unnest(:'ids'::bigint[]) WITH ORDINALITY AS u(id, ord) JOIN taskmill.tasks t ON t.id = u.id;
-- only operation_ids: every other field takes its default
SELECT cardinality(taskmill.enqueue_arrays('reg_arr_min', ARRAY['only'])) AS n;
SELECT payload IS NULL AS null_payload, meta, priority, max_attempts, ephemeral, task_group_id IS NULL AS no_group
FROM taskmill.tasks WHERE queue_name = 'reg_arr_min';
-- an empty batch inserts nothing
SELECT taskmill.enqueue_arrays('reg_arr', ARRAY[]::text[]) AS empty;

-- The JSON form still resolves with an untyped literal (no overload ambiguity)
SELECT cardinality(taskmill.enqueue_batch('reg_arr_json', '[{"operation_id": "j"}]')) AS n;

-- EnqueueBatch.Arrays_LengthMismatch: 22023, nothing inserted
SELECT pg_temp.err($$SELECT taskmill.enqueue_arrays('reg_arr_bad', ARRAY['a', 'b'], priorities => ARRAY[1])$$);
SELECT pg_temp.err($$SELECT taskmill.enqueue_arrays('reg_arr_bad', ARRAY['a'], payloads => ARRAY['1', '2']::jsonb[])$$);
SELECT pg_temp.err($$SELECT taskmill.enqueue_arrays('reg_arr_bad', ARRAY[]::text[], metas => ARRAY['{}']::jsonb[])$$);
SELECT pg_temp.err($$SELECT taskmill.enqueue_arrays('reg_arr_bad', ARRAY[['a'], ['b']])$$);

-- EnqueueBatch.Arrays_Validation: one bad task fails the batch, nothing is left
SELECT pg_temp.err($$SELECT taskmill.enqueue_arrays('reg_arr_bad', ARRAY['a', 'b'], priorities => ARRAY[0, 101])$$);
SELECT pg_temp.err($$SELECT taskmill.enqueue_arrays('reg_arr_bad', ARRAY['a', NULL])$$);
SELECT pg_temp.err($$SELECT taskmill.enqueue_arrays('reg_arr_bad', ARRAY['a', ''])$$);
SELECT pg_temp.err($$SELECT taskmill.enqueue_arrays('reg_arr_bad', ARRAY['a'], max_attempts => ARRAY[0])$$);
SELECT pg_temp.err($$SELECT taskmill.enqueue_arrays('reg_arr_bad', ARRAY['a'], task_group_ids => ARRAY[''])$$);
SELECT pg_temp.err($$SELECT taskmill.enqueue_arrays('reg_arr_bad', ARRAY['a'], idempotency_keys => ARRAY[''])$$);
SELECT pg_temp.err($$SELECT taskmill.enqueue_arrays('reg_arr_bad', ARRAY['a'], metas => ARRAY['"m"']::jsonb[])$$);
SELECT pg_temp.err($$SELECT taskmill.enqueue_arrays('reg_arr_bad', ARRAY['a'],
	scheduled_ats => ARRAY['2030-01-02 00:00+00']::timestamptz[], expires_ats => ARRAY['2030-01-01 00:00+00']::timestamptz[])$$);
SELECT pg_temp.err($$SELECT taskmill.enqueue_arrays('reg_arr_bad', NULL)$$);
SELECT pg_temp.err($$SELECT taskmill.enqueue_arrays(NULL, ARRAY['a'])$$);
SELECT count(*) AS left_behind FROM taskmill.tasks WHERE queue_name = 'reg_arr_bad';

-- EnqueueBatch.Arrays_DuplicateKey: 23505 within the batch or against the queue, all or nothing
SELECT pg_temp.err($$SELECT taskmill.enqueue_arrays('reg_arr', ARRAY['a', 'b'], idempotency_keys => ARRAY['d', 'd'])$$);
SELECT pg_temp.err($$SELECT taskmill.enqueue_arrays('reg_arr', ARRAY['a', 'b'], idempotency_keys => ARRAY['new', 'k-a'])$$);
SELECT count(*) FILTER (WHERE idempotency_key IN ('d', 'new')) AS left_behind, count(*) AS total
FROM taskmill.tasks WHERE queue_name = 'reg_arr';

-- Without callers' keys a batch goes in as COPY puts rows in, 100 rows per heap
-- multi-insert: 250 tasks span three chunks, every one there once, in batch order.
SELECT taskmill.enqueue_arrays('chunks', array_fill('op'::text, ARRAY[250]),
       (SELECT array_agg(jsonb_build_object('i', g) ORDER BY g) FROM generate_series(1, 250) g)) AS ids \gset
SELECT count(*) AS tasks, count(DISTINCT id) AS ids,
       bool_and(payload = jsonb_build_object('i', id - (SELECT min(id) FROM taskmill.tasks WHERE queue_name = 'chunks') + 1)) AS in_order,
       bool_and(idempotency_key = 'taskmill:' || id) AS generated_keys
FROM taskmill.tasks WHERE queue_name = 'chunks';
SELECT cardinality(:'ids'::bigint[]) AS returned_ids;
-- with a row trigger on the table the batch takes the SQL INSERT, and the trigger runs
CREATE TRIGGER mark BEFORE INSERT ON taskmill.tasks FOR EACH ROW EXECUTE FUNCTION pg_temp.mark();
SELECT cardinality(taskmill.enqueue_arrays('trig_arrays', ARRAY['a', 'b', 'c'])) AS enqueued;
DROP TRIGGER mark ON taskmill.tasks;
SELECT count(*) FILTER (WHERE meta = '{"by": "trigger"}') AS marked FROM taskmill.tasks WHERE queue_name = 'trig_arrays';
