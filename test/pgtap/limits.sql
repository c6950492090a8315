-- Size limits (issue 10 item 5), short quotes of bad input (item 6) and the direct INSERT
-- agreeing with the SQL statement (issue 9): the behaviours test/regress/sql/queue_limits.sql
-- and test/regress/sql/queue_direct_insert.sql show, asserted.
BEGIN;
\ir helpers.psql
SELECT plan(14);

SET LOCAL taskmill.max_enqueue_batch = 2;
SELECT throws_ok($$SELECT taskmill.enqueue_batch('lim', '[{"operation_id": "a"}, {"operation_id": "b"}, {"operation_id": "c"}]')$$,
	'54000', 'too many tasks in one call', 'Limits_EnqueueBatchCount: over taskmill.max_enqueue_batch is 54000');
SELECT throws_ok($$SELECT taskmill.enqueue_arrays('lim', ARRAY['a', 'b', 'c'])$$,
	'54000', 'too many tasks in one call', 'Limits_EnqueueArraysCount: the same for enqueue_arrays');
SELECT lives_ok($$SELECT taskmill.enqueue_arrays('lim', ARRAY['a', 'b'])$$, 'Limits_EnqueueBatchCount: at the limit is fine');
RESET taskmill.max_enqueue_batch;

SET LOCAL taskmill.max_payload_bytes = 64;
SELECT throws_ok($$SELECT taskmill.enqueue('lim', 'a', jsonb_build_object('x', repeat('y', 100)))$$,
	'54000', 'payload is too large', 'Limits_Payload: a payload over taskmill.max_payload_bytes is refused');
RESET taskmill.max_payload_bytes;
SET LOCAL taskmill.max_meta_bytes = 64;
SELECT throws_ok($$SELECT taskmill.enqueue('lim', 'a', meta => jsonb_build_object('x', repeat('y', 100)))$$,
	'54000', 'meta is too large', 'Limits_Meta: meta over taskmill.max_meta_bytes is refused');
RESET taskmill.max_meta_bytes;
SET LOCAL taskmill.max_key_bytes = 8;
SELECT throws_ok($$SELECT taskmill.enqueue('lim', 'a', idempotency_key => 'abcdefghi')$$,
	'54000', 'idempotency key "abcdefghi" is too long', 'Limits_Key: a key over taskmill.max_key_bytes is refused');
RESET taskmill.max_key_bytes;

SELECT taskmill.enqueue('lim-ack', 'a') AS id \gset
SELECT lease AS lease FROM taskmill.dequeue('lim-ack') \gset
SET LOCAL taskmill.max_result_bytes = 64;
SELECT throws_ok(format($$SELECT taskmill.ack(%s, %L, jsonb_build_object('r', repeat('y', 100)))$$, :id, :'lease'),
	'54000', 'result is too large', 'Limits_Result: ack refuses a result over taskmill.max_result_bytes');
SET LOCAL taskmill.max_error_bytes = 64;
SELECT throws_ok(format($$SELECT taskmill.nack(%s, %L, repeat('e', 100))$$, :id, :'lease'),
	'54000', 'error is too large', 'Limits_Error: nack refuses an error over taskmill.max_error_bytes');
SELECT is(taskmill.ack(:id, :'lease', '{"ok": true}'), true, 'Limits_Result: a small result is acked');

-- A 50 MB bad cron expression: the message quotes 64 bytes of it.
CREATE FUNCTION tm_test.message_of(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE stmt;
	RETURN NULL;
EXCEPTION WHEN OTHERS THEN
	RETURN SQLERRM;
END $$;
SELECT cmp_ok(length(tm_test.message_of($$SELECT taskmill.cron_validate(repeat('9', 50 * 1024 * 1024))$$)), '<', 120,
	'LogAmplification_CronValidate: a 50 MB expression gives a message under 120 bytes');
SELECT cmp_ok(length(tm_test.message_of($$SELECT taskmill.enqueue_batch('lim', jsonb_build_array(jsonb_build_object(repeat('k', 1000000), 1)))$$)), '<', 120,
	'LogAmplification_UnknownField: a 1 MB field name gives a short message');

-- The direct INSERT and the SQL statement write the same row, with the table's defaults.
CREATE FUNCTION tm_test.row_of(task_id bigint) RETURNS jsonb LANGUAGE sql AS $$
	SELECT to_jsonb(t) - 'id' - 'idempotency_key' FROM taskmill.tasks t WHERE t.id = task_id
$$;
SELECT is(tm_test.row_of(taskmill.enqueue('lim-direct', 'op', '{"a": 1}')),
	tm_test.row_of(taskmill.enqueue('lim-direct', 'op', '{"a": 1}', idempotency_key => 'k1')),
	'DirectInsert_AgreesWithSql: same row with every default');
ALTER TABLE taskmill.tasks ALTER COLUMN max_attempts SET DEFAULT 11;
SELECT taskmill.enqueue('lim-direct', 'd') AS direct_id, taskmill.enqueue('lim-direct', 'd', idempotency_key => 'k2') AS sql_id \gset
SELECT results_eq(format('SELECT max_attempts FROM taskmill.tasks WHERE id IN (%s, %s)', :direct_id, :sql_id),
	ARRAY[11, 11], 'DirectInsert_CatalogDefaults: a changed column default reaches both paths');
SELECT is((SELECT max_attempts FROM taskmill.tasks WHERE id = :direct_id), 11,
	'DirectInsert_CatalogDefaults: the direct path read it from the catalog');

SELECT * FROM finish();
ROLLBACK;
