-- enqueue and enqueue_batch: defaults, options, idempotency and every error.
\i test/regress/sql/include/setup.psql

-- Enqueue.Success / Enqueue.DefaultOptions
SELECT taskmill.enqueue('reg_enq', 'send_welcome', '{"user": 42}') > 0 AS has_id;
SELECT operation_id, payload, meta, priority, attempts, max_attempts, task_group_id IS NULL AS no_group,
       idempotency_key = 'taskmill:' || id AS generated_key, ephemeral, scheduled_at <= now() AS scheduled_now,
       visible_at = scheduled_at AS visible_when_scheduled, expires_at, lease, last_error, dlq_at, dlq_reason
FROM taskmill.tasks WHERE queue_name = 'reg_enq';

-- Enqueue.WithAllOptions (named notation, as callers use it)
SELECT taskmill.enqueue(queue_name => 'reg_enq', operation_id => 'op/test:1', payload => '[1, "ü", null]',
       priority => 50, max_attempts => 5, scheduled_at => '2030-01-01 00:00+00',
       expires_at => '2030-01-02 00:00+00', task_group_id => 'grp', idempotency_key => 'abc',
       ephemeral => true, meta => '{"traceparent": "00-abc-def-01"}') > 0 AS has_id;
SELECT operation_id, payload, meta, priority, max_attempts, scheduled_at, visible_at, expires_at,
       task_group_id, idempotency_key, ephemeral
FROM taskmill.tasks WHERE queue_name = 'reg_enq' AND idempotency_key = 'abc';

-- NULL options mean their defaults; a NULL payload stays SQL NULL.
SELECT taskmill.enqueue('reg_enq', 'nulls', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL) > 0 AS has_id;
SELECT payload IS NULL AS null_payload, meta, priority, max_attempts, ephemeral, scheduled_at <= now() AS now
FROM taskmill.tasks WHERE queue_name = 'reg_enq' AND operation_id = 'nulls';

-- Edge.Priority_Min / Priority_Max / MaxAttempts_One / MaxAttempts_Large
SELECT taskmill.enqueue('reg_enq', 'p', priority => -100) > 0, taskmill.enqueue('reg_enq', 'p', priority => 100) > 0,
       taskmill.enqueue('reg_enq', 'p', max_attempts => 1) > 0, taskmill.enqueue('reg_enq', 'p', max_attempts => 100) > 0;

-- Enqueue.DuplicateIdempotencyKey / SameKeyDifferentQueues
SELECT pg_temp.err($$SELECT taskmill.enqueue('reg_enq', 'x', idempotency_key => 'abc')$$);
SELECT taskmill.enqueue('reg_enq_b', 'x', idempotency_key => 'abc') > 0 AS other_queue_ok;

-- Validation errors, each with its SQLSTATE; nothing is written by a failed call.
SELECT count(*) AS before FROM taskmill.tasks WHERE queue_name = 'reg_enq';
SELECT pg_temp.err($$SELECT taskmill.enqueue('reg_enq', 'x', priority => 101)$$);
SELECT pg_temp.err($$SELECT taskmill.enqueue('reg_enq', 'x', priority => -101)$$);
SELECT pg_temp.err($$SELECT taskmill.enqueue('reg_enq', 'x', max_attempts => 0)$$);
SELECT pg_temp.err($$SELECT taskmill.enqueue('reg_enq', 'x', idempotency_key => '')$$);
SELECT pg_temp.err($$SELECT taskmill.enqueue(NULL, 'x')$$);
SELECT pg_temp.err($$SELECT taskmill.enqueue('', 'x')$$);
SELECT pg_temp.err($$SELECT taskmill.enqueue('reg_enq', NULL)$$);
SELECT pg_temp.err($$SELECT taskmill.enqueue('reg_enq', '')$$);
SELECT pg_temp.err($$SELECT taskmill.enqueue(repeat('q', 256), 'x')$$);
SELECT pg_temp.err($$SELECT taskmill.enqueue('reg_enq', 'x', task_group_id => '')$$);
SELECT pg_temp.err($$SELECT taskmill.enqueue('reg_enq', 'x', meta => '[1]')$$);
SELECT pg_temp.err($$SELECT taskmill.enqueue('reg_enq', 'x', scheduled_at => '2030-01-02 00:00+00',
                                                        expires_at => '2030-01-01 00:00+00')$$);
SELECT count(*) AS after FROM taskmill.tasks WHERE queue_name = 'reg_enq';

-- The raw error, as a client sees it.
\set VERBOSITY default
SELECT taskmill.enqueue('reg_enq', 'x', priority => 101);

-- Edge.Transaction_Rollback / Transaction_Commit
BEGIN;
SELECT taskmill.enqueue('reg_enq_tx', 'x') > 0 AS has_id;
ROLLBACK;
SELECT count(*) AS rolled_back FROM taskmill.tasks WHERE queue_name = 'reg_enq_tx';
BEGIN;
SELECT taskmill.enqueue('reg_enq_tx', 'x') > 0 AS has_id;
COMMIT;
SELECT count(*) AS committed FROM taskmill.tasks WHERE queue_name = 'reg_enq_tx';

-- EnqueueBatch.Success / MixedOptions: ids in input order
WITH b AS (
	SELECT taskmill.enqueue_batch('reg_batch', $$[
		{"operation_id": "a", "payload": {"n": 1}},
		{"operation_id": "b", "priority": 10, "max_attempts": 7, "task_group_id": "g",
		 "idempotency_key": "k-b", "ephemeral": true, "meta": {"traceparent": "t"},
		 "scheduled_at": "2030-01-01T00:00:00Z", "expires_at": "2030-02-01T00:00:00Z"},
		{"operation_id": "c", "payload": null, "priority": null}
	]$$::jsonb) AS ids
)
SELECT cardinality(ids) AS n, ids[1] < ids[2] AND ids[2] < ids[3] AS ascending FROM b;
SELECT operation_id, payload, priority, max_attempts, task_group_id,
       CASE WHEN idempotency_key = 'taskmill:' || id THEN 'generated' ELSE idempotency_key END AS idempotency_key,
       ephemeral, meta, CASE WHEN scheduled_at <= now() THEN 'now' ELSE scheduled_at::text END AS scheduled_at,
       expires_at
FROM taskmill.tasks WHERE queue_name = 'reg_batch' ORDER BY id;

-- notify => false: the same insert, no NOTIFY
SELECT taskmill.enqueue('reg_enq_quiet', 'x', notify => false) > 0 AS has_id;
SELECT cardinality(taskmill.enqueue_batch('reg_enq_quiet', '[{"operation_id": "y"}]', notify => false)) AS n;
SELECT count(*) FROM taskmill.tasks WHERE queue_name = 'reg_enq_quiet';

-- EnqueueBatch.EmptyBatch / LargeBatch
SELECT taskmill.enqueue_batch('reg_batch', '[]') AS empty;
SELECT cardinality(taskmill.enqueue_batch('reg_batch_large',
       (SELECT jsonb_agg(jsonb_build_object('operation_id', 'op', 'payload', i)) FROM generate_series(1, 100) i))) AS n;
SELECT count(*) FROM taskmill.tasks WHERE queue_name = 'reg_batch_large';

-- EnqueueBatch.DuplicateKeyInBatch / ConflictWithExisting: the whole batch fails.
SELECT pg_temp.err($$SELECT taskmill.enqueue_batch('reg_batch', '[{"operation_id": "x", "idempotency_key": "d"},
                                                                  {"operation_id": "y"},
                                                                  {"operation_id": "z", "idempotency_key": "d"}]')$$);
SELECT pg_temp.err($$SELECT taskmill.enqueue_batch('reg_batch', '[{"operation_id": "x", "idempotency_key": "new"},
                                                                  {"operation_id": "y", "idempotency_key": "k-b"}]')$$);
SELECT count(*) AS unchanged FROM taskmill.tasks WHERE queue_name = 'reg_batch';

-- Batch shape and type errors.
SELECT pg_temp.err($$SELECT taskmill.enqueue_batch('reg_batch', NULL)$$);
SELECT pg_temp.err($$SELECT taskmill.enqueue_batch(NULL, '[]')$$);
SELECT pg_temp.err($$SELECT taskmill.enqueue_batch('reg_batch', '{"operation_id": "x"}')$$);
SELECT pg_temp.err($$SELECT taskmill.enqueue_batch('reg_batch', '"x"')$$);
SELECT pg_temp.err($$SELECT taskmill.enqueue_batch('reg_batch', '[1]')$$);
SELECT pg_temp.err($$SELECT taskmill.enqueue_batch('reg_batch', '[{"payload": 1}]')$$);
SELECT pg_temp.err($$SELECT taskmill.enqueue_batch('reg_batch', '[{"operation_id": 7}]')$$);
SELECT pg_temp.err($$SELECT taskmill.enqueue_batch('reg_batch', '[{"operation_id": ""}]')$$);
SELECT pg_temp.err($$SELECT taskmill.enqueue_batch('reg_batch', '[{"operation_id": "x", "priority": "high"}]')$$);
SELECT pg_temp.err($$SELECT taskmill.enqueue_batch('reg_batch', '[{"operation_id": "x", "priority": 1.5}]')$$);
SELECT pg_temp.err($$SELECT taskmill.enqueue_batch('reg_batch', '[{"operation_id": "x", "priority": 1e30}]')$$);
SELECT pg_temp.err($$SELECT taskmill.enqueue_batch('reg_batch', '[{"operation_id": "x"}, {"operation_id": "y", "priority": 101}]')$$);
SELECT pg_temp.err($$SELECT taskmill.enqueue_batch('reg_batch', '[{"operation_id": "x", "max_attempts": 0}]')$$);
SELECT pg_temp.err($$SELECT taskmill.enqueue_batch('reg_batch', '[{"operation_id": "x", "idempotency_key": ""}]')$$);
SELECT pg_temp.err($$SELECT taskmill.enqueue_batch('reg_batch', '[{"operation_id": "x", "ephemeral": "yes"}]')$$);
SELECT pg_temp.err($$SELECT taskmill.enqueue_batch('reg_batch', '[{"operation_id": "x", "meta": "m"}]')$$);
SELECT pg_temp.err($$SELECT taskmill.enqueue_batch('reg_batch', '[{"operation_id": "x", "task_group_id": 3}]')$$);
SELECT pg_temp.err($$SELECT taskmill.enqueue_batch('reg_batch', '[{"operation_id": "x", "scheduled_at": "soon"}]')$$);
SELECT pg_temp.err($$SELECT taskmill.enqueue_batch('reg_batch', '[{"operation_id": "x", "scheduled_at": "2030-01-02T00:00:00Z",
                                                                  "expires_at": "2030-01-01T00:00:00Z"}]')$$);
SELECT pg_temp.err($$SELECT taskmill.enqueue_batch('reg_batch', '[{"operation_id": "x", "queue": "typo"}]')$$);
SELECT count(*) AS unchanged FROM taskmill.tasks WHERE queue_name = 'reg_batch';

-- The batch error's context names the task.
SELECT taskmill.enqueue_batch('reg_batch', '[{"operation_id": "x"}, {"operation_id": "y", "priority": 101}]');

-- Generated keys are "taskmill:<id>"; callers may not use the prefix (the SQL API says
-- why), and the table's CHECK keeps direct INSERTs out of it too.
SELECT pg_temp.err($$SELECT taskmill.enqueue('gen', 'op', idempotency_key => 'taskmill:1')$$);
SELECT pg_temp.err($$SELECT taskmill.enqueue_batch('gen', '[{"operation_id": "a", "idempotency_key": "taskmill:x"}]')$$);
SELECT pg_temp.err($$SELECT taskmill.enqueue_arrays('gen', ARRAY['a'], idempotency_keys => ARRAY['taskmill:2'])$$);
DO $$
BEGIN
	INSERT INTO taskmill.tasks (queue_name, operation_id, idempotency_key) VALUES ('gen', 'op', 'taskmill:0');
	RAISE NOTICE 'no error';
EXCEPTION WHEN check_violation THEN
	RAISE NOTICE '%: %', SQLSTATE, SQLERRM;
END
$$;
SELECT taskmill.enqueue('gen', 'op') AS gen_id \gset
SELECT idempotency_key = 'taskmill:' || :gen_id AS key_from_id FROM taskmill.tasks WHERE id = :gen_id;
-- a caller's key equal to a queued task's id is just a key
SELECT taskmill.enqueue('gen', 'op', idempotency_key => :'gen_id') > :gen_id AS plain_key_ok;

-- A one-task enqueue without a key inserts without SPI; with a row trigger on the table
-- (or RLS) it takes the SQL statement, so the INSERT behaves as any INSERT would. A role
-- without the produce right on the queue is refused before anything is inserted, whatever
-- its privileges on the table (docs/security.md).
CREATE TRIGGER mark BEFORE INSERT ON taskmill.tasks FOR EACH ROW EXECUTE FUNCTION pg_temp.mark();
SELECT taskmill.enqueue('trig', 'op', '{"by": "caller"}') AS tid \gset
SELECT payload, meta FROM taskmill.tasks WHERE id = :tid;
DROP TRIGGER mark ON taskmill.tasks;
SELECT taskmill.enqueue('trig', 'op', '{"by": "caller"}') AS tid \gset
SELECT payload, meta FROM taskmill.tasks WHERE id = :tid;
CREATE ROLE regress_taskmill_reader;
GRANT USAGE ON SCHEMA taskmill TO regress_taskmill_reader;
GRANT SELECT ON taskmill.tasks TO regress_taskmill_reader;
SET ROLE regress_taskmill_reader;
SELECT pg_temp.err($$SELECT taskmill.enqueue('trig', 'op')$$);
RESET ROLE;
DROP OWNED BY regress_taskmill_reader;
DROP ROLE regress_taskmill_reader;
