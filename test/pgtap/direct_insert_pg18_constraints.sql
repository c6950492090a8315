-- What PostgreSQL 18 adds to a table that the direct insert (rel_insert.c, insert_exprs.c:
-- tasks without a caller's key) must treat as an INSERT statement does (the tasks with a key
-- take that statement): a CHECK ... NOT ENFORCED is not evaluated, and a virtual generated
-- column is computed for the table's CHECKs and when read. Skipped before 18, which has
-- neither.
BEGIN;
\ir helpers.psql
SELECT plan(7);

SELECT current_setting('server_version_num')::int >= 180000 AS pg18 \gset
\if :pg18
-- the direct insert prepares its expressions once per backend: prepare them before the change
SELECT taskmill.enqueue('pg18-direct', 'warm', notify => false) > 0 AS warmed \gset

ALTER TABLE taskmill.tasks ADD CONSTRAINT tm_test_not_enforced CHECK (priority <> 13) NOT ENFORCED;
SELECT lives_ok($$SELECT taskmill.enqueue('pg18-direct', 'op', priority => 13, notify => false)$$,
	'DirectInsert.NotEnforcedCheck: a row it rejects is inserted without a key (direct insert)');
SELECT lives_ok($$SELECT taskmill.enqueue('pg18-direct', 'op', priority => 13, idempotency_key => 'ne', notify => false)$$,
	'DirectInsert.NotEnforcedCheck: and with a key (INSERT statement)');
SELECT lives_ok($$SELECT taskmill.enqueue_batch('pg18-direct', '[{"operation_id": "a", "priority": 13}, {"operation_id": "b", "priority": 13}]', false)$$,
	'DirectInsert.NotEnforcedCheck: and as a batch (multi-insert)');
ALTER TABLE taskmill.tasks DROP CONSTRAINT tm_test_not_enforced;

ALTER TABLE taskmill.tasks ADD COLUMN tm_test_double int GENERATED ALWAYS AS (priority * 2) VIRTUAL,
	ADD CONSTRAINT tm_test_double_check CHECK (tm_test_double <> 20);
SELECT throws_ok($$SELECT taskmill.enqueue('pg18-direct', 'op', priority => 10, notify => false)$$,
	'23514', NULL,
	'DirectInsert.VirtualColumn: a CHECK on it sees the computed value without a key');
SELECT throws_ok($$SELECT taskmill.enqueue('pg18-direct', 'op', priority => 10, idempotency_key => 'vc', notify => false)$$,
	'23514', NULL,
	'DirectInsert.VirtualColumn: and with a key');
SELECT taskmill.enqueue('pg18-direct', 'op', priority => 3, notify => false) AS t_virtual \gset
SELECT is((SELECT tm_test_double FROM taskmill.tasks WHERE id = :t_virtual), 6,
	'DirectInsert.VirtualColumn: a task enqueued without a key reads it computed');
SELECT is((SELECT count(*) FROM taskmill.tasks WHERE queue_name = 'pg18-direct')::int, 6,
	'DirectInsert: every accepted task is in the table, no rejected one');
\else
SELECT skip('PostgreSQL 18 only: NOT ENFORCED constraints and virtual generated columns', 7);
\endif

SELECT * FROM finish();
ROLLBACK;
