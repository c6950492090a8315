-- taskmill 0.1 -> 0.2. Applied by ALTER EXTENSION taskmill UPDATE. Every change to SQL
-- objects since 0.1 is here, and also in extension/sql/*.sql (the full script of 0.2); the
-- upgrade suite checks that both give the same schema.
\echo Use "ALTER EXTENSION taskmill UPDATE TO '0.2'" to load this file. \quit

-- ---------------------------------------------------------------------------------------
-- extsched: schedules owned by roles, enqueue options NULL = the server's default
-- (issues 9 and 10; extension/sql/20_queue.sql, extension/sql/50_schedules.sql)
-- ---------------------------------------------------------------------------------------

-- Schedules made under 0.1 were run by whoever ran run_due_schedules (the superuser
-- worker): they now belong to the role that runs this update.
ALTER TABLE taskmill.task_schedules ADD COLUMN owner text NOT NULL DEFAULT CURRENT_USER;

DROP FUNCTION taskmill.enqueue(text, text, jsonb, integer, integer, timestamptz,
	timestamptz, text, text, boolean, jsonb, boolean);
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
	'Add a task to a queue; returns its id. NULL options take the column defaults of taskmill.tasks (scheduled_at: now()). notify: NULL = NOTIFY taskmill at commit only if a worker waits (wait_begin), true = always, false = never.';

