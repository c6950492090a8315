-- Size limits (taskmill.max_* GUCs, docs/sql-api.md "Limits") and short quotes of bad input
-- in messages (a huge bad value must not flood the server log).
\i test/regress/sql/include/setup.psql

-- Tasks per call: checked before any per-task memory is taken.
SET taskmill.max_enqueue_batch = 3;
SELECT pg_temp.err($$SELECT taskmill.enqueue_batch('reg_lim',
	'[{"operation_id": "a"}, {"operation_id": "a"}, {"operation_id": "a"}, {"operation_id": "a"}]')$$);
SELECT pg_temp.err($$SELECT taskmill.enqueue_arrays('reg_lim', array_fill('a'::text, ARRAY[4]))$$);
SELECT cardinality(taskmill.enqueue_arrays('reg_lim', array_fill('a'::text, ARRAY[3]), notify => false)) AS at_the_limit;
RESET taskmill.max_enqueue_batch;
SELECT pg_temp.err($$SELECT taskmill.enqueue_arrays('reg_lim', array_fill('a'::text, ARRAY[1000001]))$$);

-- Schedules per queue (register_schedules' list is the queue's whole set).
SET taskmill.max_schedules_per_queue = 2;
SELECT pg_temp.err($$SELECT taskmill.register_schedules('reg_lim', '[{"operation_id": "a", "cron": "@daily"},
	{"operation_id": "b", "cron": "@daily"}, {"operation_id": "c", "cron": "@daily"}]')$$);
SELECT taskmill.register_schedules('reg_lim', '[{"operation_id": "a", "cron": "@daily"}, {"operation_id": "b", "cron": "@daily"}]') AS at_the_limit;
SELECT taskmill.register_schedules('reg_lim', '[]');
RESET taskmill.max_schedules_per_queue;

-- Bytes of payload and meta (stored jsonb size), on every enqueue path.
SET taskmill.max_payload_bytes = 100;
SELECT pg_temp.err($$SELECT taskmill.enqueue('reg_lim', 'a', jsonb_build_object('x', repeat('y', 200)))$$);
SELECT pg_temp.err($$SELECT taskmill.enqueue_batch('reg_lim', jsonb_build_array(jsonb_build_object('operation_id', 'a', 'payload', repeat('y', 200))))$$);
SELECT pg_temp.err($$SELECT taskmill.enqueue_arrays('reg_lim', ARRAY['a'], payloads => ARRAY[jsonb_build_object('x', repeat('y', 200))])$$);
SELECT pg_temp.err($$SELECT taskmill.register_schedules('reg_lim', jsonb_build_array(jsonb_build_object('operation_id', 'a', 'cron', '@daily', 'payload', repeat('y', 200))))$$);
SELECT taskmill.enqueue('reg_lim', 'a', '{"small": true}', notify => false) > 0 AS small_payload_ok;
RESET taskmill.max_payload_bytes;
SET taskmill.max_meta_bytes = 100;
SELECT pg_temp.err($$SELECT taskmill.enqueue('reg_lim', 'a', meta => jsonb_build_object('x', repeat('y', 200)))$$);
RESET taskmill.max_meta_bytes;

-- Idempotency key length; the message quotes a short prefix of the key.
SET taskmill.max_key_bytes = 16;
SELECT pg_temp.err($$SELECT taskmill.enqueue('reg_lim', 'a', idempotency_key => repeat('k', 17))$$);
SELECT pg_temp.err($$SELECT taskmill.enqueue('reg_lim', 'a', idempotency_key => repeat('k', 100000))$$);
RESET taskmill.max_key_bytes;

-- Result (ack, ack_many) and error (nack) sizes.
SET taskmill.max_result_bytes = 100;
SET taskmill.max_error_bytes = 100;
SELECT taskmill.enqueue('reg_lim_ack', 'a', notify => false) AS ack_id \gset
SELECT lease AS ack_lease FROM taskmill.dequeue('reg_lim_ack') \gset
SELECT pg_temp.err(format($$SELECT taskmill.ack(%s, %L, jsonb_build_object('r', repeat('y', 200)))$$, :ack_id, :'ack_lease'));
SELECT pg_temp.err(format($$SELECT taskmill.ack_many(ARRAY[%s]::bigint[], ARRAY[%L]::uuid[], ARRAY[jsonb_build_object('r', repeat('y', 200))])$$, :ack_id, :'ack_lease'));
SELECT pg_temp.err(format($$SELECT taskmill.nack(%s, %L, repeat('e', 200))$$, :ack_id, :'ack_lease'));
SELECT taskmill.nack(:ack_id, :'ack_lease', 'short error') AS nack_short;
RESET taskmill.max_result_bytes;
RESET taskmill.max_error_bytes;

-- Only a superuser may raise a limit.
CREATE ROLE regress_taskmill_limits;
SET ROLE regress_taskmill_limits;
SELECT pg_temp.err($$SET taskmill.max_payload_bytes = '1GB'$$);
RESET ROLE;
DROP ROLE regress_taskmill_limits;

-- Log amplification: a 50 MB bad input gives a message of a few dozen bytes.
SELECT pg_temp.err($$SELECT taskmill.cron_validate(repeat('9', 50 * 1024 * 1024))$$);
SELECT pg_temp.err($$SELECT taskmill.cron_next('0 12 * * *', now(), repeat('z', 1000000))$$);
SELECT pg_temp.err($$SELECT taskmill.enqueue_batch('reg_lim', jsonb_build_array(jsonb_build_object(repeat('k', 1000000), 1)))$$);
SELECT pg_temp.err($$SELECT taskmill.enqueue_batch('reg_lim', jsonb_build_array(jsonb_build_object('operation_id', 'a', 'scheduled_at', repeat('9', 1000000))))$$);
SELECT pg_temp.err($$SELECT taskmill.enqueue_batch('reg_lim', jsonb_build_array(jsonb_build_object('operation_id', 'a', 'priority', ('1' || repeat('0', 100000))::numeric)))$$);
SELECT pg_temp.err($$SELECT taskmill.register_schedules('reg_lim', jsonb_build_array(jsonb_build_object('operation_id', 'a', 'cron', repeat('9', 1000000))))$$);
SELECT pg_temp.err($$SELECT taskmill.register_schedules('reg_lim', jsonb_build_array(jsonb_build_object('operation_id', 'a', 'cron', '@daily', 'options', jsonb_build_object('expires_in', repeat('9', 1000000)))))$$);
SELECT pg_temp.err($$SELECT taskmill.register_schedules('reg_lim', jsonb_build_array(jsonb_build_object('operation_id', 'a', 'cron', '@daily', 'timezone', repeat('z', 1000000))))$$);
SELECT pg_temp.err($$SELECT taskmill.enqueue('reg_lim', 'a', idempotency_key => 'taskmill:' || repeat('x', 400))$$);
SELECT pg_temp.err($$SELECT taskmill.enqueue('reg_lim', 'a', idempotency_key => 'taskmill-schedule:' || repeat('x', 400))$$);

DELETE FROM taskmill.tasks WHERE queue_name LIKE 'reg_lim%';
