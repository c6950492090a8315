-- 20_queue.sql: the queue's C functions (enqueue.c, dequeue.c, ack.c, dlq.c).
--
-- None is STRICT: each checks its own NULLs (22004 for a required argument; NULL for an
-- option with a default means that default).

-- A NULL option (the default of each) means the server's default: the column default of
-- taskmill.tasks (10_schema.sql), read from the catalog. Defaults are stated there only.
CREATE FUNCTION taskmill.enqueue(
	queue_name text,
	operation_id text,
	payload jsonb DEFAULT NULL,
	priority integer DEFAULT NULL,
	max_attempts integer DEFAULT NULL,
	scheduled_at timestamptz DEFAULT NULL,
	expires_at timestamptz DEFAULT NULL,
	task_group_id text DEFAULT NULL,
	idempotency_key text DEFAULT NULL,
	ephemeral boolean DEFAULT NULL,
	meta jsonb DEFAULT NULL,
	notify boolean DEFAULT NULL)
RETURNS bigint
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'taskmill_enqueue';

COMMENT ON FUNCTION taskmill.enqueue(text, text, jsonb, integer, integer, timestamptz,
	timestamptz, text, text, boolean, jsonb, boolean) IS
	'Add a task to a queue; returns its id. NULL options take the column defaults of taskmill.tasks (scheduled_at: now()). notify: NULL = NOTIFY the queue''s channel at commit only if a worker waits (wait_begin), true = always, false = never.';

CREATE FUNCTION taskmill.enqueue_batch(queue_name text, tasks jsonb, notify boolean DEFAULT NULL)
RETURNS bigint[]
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'taskmill_enqueue_batch';

COMMENT ON FUNCTION taskmill.enqueue_batch(text, jsonb, boolean) IS
	'Add a JSON array of tasks to a queue, all or nothing; returns their ids in input order. notify as for enqueue.';

-- The array form of enqueue_batch (no JSON document to build, send and parse): task i is
-- element i of each array. Named apart from enqueue_batch: an overload taking text[] would
-- make enqueue_batch('q', '[...]') with an untyped literal ambiguous.
CREATE FUNCTION taskmill.enqueue_arrays(
	queue_name text,
	operation_ids text[],
	payloads jsonb[] DEFAULT NULL,
	priorities integer[] DEFAULT NULL,
	max_attempts integer[] DEFAULT NULL,
	scheduled_ats timestamptz[] DEFAULT NULL,
	expires_ats timestamptz[] DEFAULT NULL,
	task_group_ids text[] DEFAULT NULL,
	idempotency_keys text[] DEFAULT NULL,
	ephemerals boolean[] DEFAULT NULL,
	metas jsonb[] DEFAULT NULL,
	notify boolean DEFAULT NULL)
RETURNS bigint[]
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'taskmill_enqueue_arrays';

COMMENT ON FUNCTION taskmill.enqueue_arrays(text, text[], jsonb[], integer[], integer[],
	timestamptz[], timestamptz[], text[], text[], boolean[], jsonb[], boolean) IS
	'enqueue_batch with one array per field (each NULL or as long as operation_ids; a NULL array or element = the default), all or nothing; returns the ids in input order. notify as for enqueue.';

-- Idle-waiter declaration (notify.c): a session-level SHARE lock on the queue's wait lock
-- (lock manager, a key space of taskmill's own: lock_keys.h). Enqueues with notify => NULL
-- NOTIFY the queue's channel only while some session holds it. wait_begin and listen need
-- the consume right on the queue, and LISTEN on its channel (a keyed hash of its name).
CREATE FUNCTION taskmill.wait_begin(queue_name text)
RETURNS boolean
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'taskmill_wait_begin';

COMMENT ON FUNCTION taskmill.wait_begin(text) IS
	'Declare this session an idle waiter of the queue (until wait_end or disconnect) and LISTEN on its channel: enqueues with notify => NULL then NOTIFY it. False if already waiting.';

CREATE FUNCTION taskmill.wait_end(queue_name text)
RETURNS boolean
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'taskmill_wait_end';

COMMENT ON FUNCTION taskmill.wait_end(text) IS
	'This session no longer waits on the queue (see wait_begin). False if it was not waiting.';

CREATE FUNCTION taskmill.listen(queue_name text)
RETURNS text
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'taskmill_listen';

COMMENT ON FUNCTION taskmill.listen(text) IS
	'LISTEN on the queue''s NOTIFY channel (needs the consume right); returns the channel''s name.';

CREATE FUNCTION taskmill.dequeue(
	queue_name text,
	batch_size integer DEFAULT 1,
	visibility_timeout interval DEFAULT '30 seconds',
	task_group_id text DEFAULT NULL)
RETURNS SETOF taskmill.tasks
LANGUAGE C VOLATILE PARALLEL UNSAFE ROWS 1
AS 'MODULE_PATHNAME', 'taskmill_dequeue';

COMMENT ON FUNCTION taskmill.dequeue(text, integer, interval, text) IS
	'Claim up to batch_size available tasks (priority DESC, id), each with a fresh lease.';

CREATE FUNCTION taskmill.ack_dequeue(
	queue_name text,
	batch_size integer DEFAULT 1,
	visibility_timeout interval DEFAULT '30 seconds',
	task_ids bigint[] DEFAULT NULL,
	leases uuid[] DEFAULT NULL,
	results jsonb[] DEFAULT NULL,
	failed_ids bigint[] DEFAULT NULL,
	failed_leases uuid[] DEFAULT NULL,
	errors text[] DEFAULT NULL,
	task_group_id text DEFAULT NULL)
RETURNS SETOF taskmill.tasks
LANGUAGE C VOLATILE PARALLEL UNSAFE ROWS 1
AS 'MODULE_PATHNAME', 'taskmill_ack_dequeue';

COMMENT ON FUNCTION taskmill.ack_dequeue(text, integer, interval, bigint[], uuid[], jsonb[],
	bigint[], uuid[], text[], text) IS
	'ack_many(task_ids, leases, results), nack of each failed delivery (default backoff), then dequeue, in one call and one transaction. Stale leases are skipped.';

CREATE FUNCTION taskmill.ack(task_id bigint, lease uuid, result jsonb DEFAULT NULL)
RETURNS boolean
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'taskmill_ack';

COMMENT ON FUNCTION taskmill.ack(bigint, uuid, jsonb) IS
	'Complete a delivery: the task moves to task_results (unless ephemeral). False if the lease is stale.';

CREATE FUNCTION taskmill.ack_many(task_ids bigint[], leases uuid[], results jsonb[] DEFAULT NULL)
RETURNS integer
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'taskmill_ack_many';

COMMENT ON FUNCTION taskmill.ack_many(bigint[], uuid[], jsonb[]) IS
	'Ack many deliveries in one statement; returns how many leases were current.';

CREATE FUNCTION taskmill.nack(task_id bigint, lease uuid, error text, retry_delay interval DEFAULT NULL)
RETURNS text
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'taskmill_nack';

COMMENT ON FUNCTION taskmill.nack(bigint, uuid, text, interval) IS
	'Fail a delivery: retry after a backoff, or dead-letter at max_attempts. Returns retry, dlq or stale.';

CREATE FUNCTION taskmill.extend_visibility(task_id bigint, lease uuid, visibility_timeout interval)
RETURNS boolean
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'taskmill_extend_visibility';

COMMENT ON FUNCTION taskmill.extend_visibility(bigint, uuid, interval) IS
	'Heartbeat: keep a delivery invisible until now() + visibility_timeout. False if the lease is stale.';

CREATE FUNCTION taskmill.release(task_ids bigint[], leases uuid[])
RETURNS integer
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'taskmill_release';

COMMENT ON FUNCTION taskmill.release(bigint[], uuid[]) IS
	'Give back claimed, never-started deliveries: visible at once, attempt not counted. Returns how many leases were current.';

CREATE FUNCTION taskmill.requeue_from_dlq(task_id bigint)
RETURNS void
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'taskmill_requeue_from_dlq';

COMMENT ON FUNCTION taskmill.requeue_from_dlq(bigint) IS
	'Move a task from the dead-letter queue back to its queue, attempts reset, visible now.';

CREATE FUNCTION taskmill.dequeue_sql(by_group boolean DEFAULT false)
RETURNS text
LANGUAGE C IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'taskmill_dequeue_sql';

COMMENT ON FUNCTION taskmill.dequeue_sql(boolean) IS
	'The statement dequeue runs (parameters: queue_name, batch_size, visibility_timeout[, task_group_id]), for EXPLAIN.';

CREATE FUNCTION taskmill.hot_statements()
RETURNS TABLE (name text, param_types text, statement text)
LANGUAGE C STABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'taskmill_hot_statements';

COMMENT ON FUNCTION taskmill.hot_statements() IS
	'Every statement the queue functions run as a saved plan, with its parameter types, to PREPARE and EXPLAIN.';
