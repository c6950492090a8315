-- taskmill 0.2 -> 0.3. Applied by ALTER EXTENSION taskmill UPDATE. Every change to SQL
-- objects since 0.2 is here, and also in extension/sql/*.sql (the full script of 0.3); the
-- upgrade suite checks that both give the same schema.
\echo Use "ALTER EXTENSION taskmill UPDATE TO '0.3'" to load this file. \quit

-- A manager lists a queue's tasks and deletes single ones (a FIFO group's head among
-- them, waking the next).
CREATE FUNCTION taskmill.list_tasks(
	queue_name text,
	state text DEFAULT NULL,
	task_group_id text DEFAULT NULL,
	after_id bigint DEFAULT NULL,
	"limit" integer DEFAULT 100)
RETURNS SETOF taskmill.tasks
LANGUAGE C STABLE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'taskmill_list_tasks';

COMMENT ON FUNCTION taskmill.list_tasks(text, text, text, bigint, integer) IS
	'A queue''s tasks by id, at most limit (1..1000) after after_id; state: available, in_flight, scheduled, retrying, in_dlq or NULL. lease is not shown. Needs the manage right.';

CREATE FUNCTION taskmill.delete_task(task_id bigint, force boolean DEFAULT false)
RETURNS void
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'taskmill_delete_task';

COMMENT ON FUNCTION taskmill.delete_task(bigint, boolean) IS
	'Delete one task (in flight only with force) and wake its FIFO group''s next head. Needs the manage right on its queue.';
