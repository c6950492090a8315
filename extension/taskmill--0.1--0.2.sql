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
-- extperf (issue 12): tasks that wait (scheduled for later, waiting for a retry, parked
-- behind their FIFO group's head) leave tasks_dequeue_idx for tasks_waiting_idx;
-- ack_dequeue acks/nacks a batch and claims the next in one call.
ALTER TABLE taskmill.tasks ADD COLUMN waiting boolean NOT NULL DEFAULT false;
ALTER TABLE taskmill.tasks ADD COLUMN parked_until timestamptz;
-- Enqueued for later or waiting for a retry: every task whose time has not come.
UPDATE taskmill.tasks SET waiting = true
	WHERE dlq_at IS NULL AND lease IS NULL AND visible_at > pg_catalog.now();
DROP INDEX taskmill.tasks_dequeue_idx;
CREATE INDEX tasks_dequeue_idx
	ON taskmill.tasks (queue_name, priority DESC, id, visible_at)
	WHERE dlq_at IS NULL AND lease IS NULL AND NOT waiting;
CREATE INDEX tasks_waiting_idx
	ON taskmill.tasks (queue_name, (GREATEST(visible_at, parked_until)))
	WHERE dlq_at IS NULL AND lease IS NULL AND waiting;

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

-- ---- extsec: queue privileges, SECURITY-owner functions, keyed lock tags and channels ----
-- (issue 10: extension/sql/15_privileges.sql, 20_queue.sql listen, 30_admin.sql and
-- list_schedules in C; docs/security.md)

CREATE TABLE taskmill.queue_grants (
	grantee			text NOT NULL,
	queue_pattern	text NOT NULL,
	produce			boolean NOT NULL DEFAULT false,
	consume			boolean NOT NULL DEFAULT false,
	manage			boolean NOT NULL DEFAULT false,
	CONSTRAINT queue_grants_pkey PRIMARY KEY (grantee, queue_pattern),
	CONSTRAINT queue_grants_queue_pattern_check
		CHECK (queue_pattern <> '' AND pg_catalog.octet_length(queue_pattern) <= 255)
);

COMMENT ON TABLE taskmill.queue_grants IS
	'Rights on queues (produce, consume, manage) granted to roles: taskmill.grant / taskmill.revoke.';

-- Every backend caches what it read from queue_grants; a change invalidates the caches
-- at commit.
CREATE FUNCTION taskmill.queue_grants_changed()
RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'taskmill_queue_grants_changed';

CREATE TRIGGER queue_grants_changed
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON taskmill.queue_grants
	FOR EACH STATEMENT EXECUTE FUNCTION taskmill.queue_grants_changed();

SELECT pg_catalog.pg_extension_config_dump('taskmill.queue_grants', '');

-- 32 random bytes made at install (two version-4 UUIDs: 244 random bits), readable by the
-- extension owner only: the key of the hashes that name lock tags and NOTIFY channels.
-- Not dumped: a restored database gets a secret of its own.
CREATE TABLE taskmill.install_secret (
	secret			bytea NOT NULL,
	CONSTRAINT install_secret_secret_check CHECK (pg_catalog.octet_length(secret) >= 16)
);

COMMENT ON TABLE taskmill.install_secret IS
	'The key of the hashes that name taskmill''s lock tags and NOTIFY channels; readable by the extension owner only.';

INSERT INTO taskmill.install_secret (secret)
SELECT pg_catalog.decode(pg_catalog.replace(
	pg_catalog.gen_random_uuid()::text || pg_catalog.gen_random_uuid()::text, '-', ''), 'hex');

-- Raises 42501 unless the caller may change queue rights: a superuser, or a member of the
-- role that owns the extension. taskmill.grant and taskmill.revoke call it first.
CREATE FUNCTION taskmill.require_grant_manager(action text)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NOT COALESCE((SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = current_user), false)
	   AND NOT pg_catalog.pg_has_role(current_user,
			(SELECT c.relowner FROM pg_catalog.pg_class c
			 WHERE c.oid = 'taskmill.queue_grants'::pg_catalog.regclass), 'USAGE') THEN
		RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
			MESSAGE = pg_catalog.format('permission denied for function %s', pg_catalog.left($1, 16)),
			DETAIL = pg_catalog.format('Only superusers and the owner of the taskmill extension may %s queue rights.',
				pg_catalog.left($1, 16));
	END IF;
END
$$;

COMMENT ON FUNCTION taskmill.require_grant_manager(text) IS
	'Raises 42501 unless the caller is a superuser or a member of the extension owner: the check of taskmill.grant and taskmill.revoke.';

CREATE FUNCTION taskmill."grant"(role_name text, queue_pattern text, rights text[])
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
	PERFORM taskmill.require_grant_manager('grant');
	IF $1 IS NULL OR $2 IS NULL OR $3 IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
			MESSAGE = 'role_name, queue_pattern and rights must not be null';
	END IF;
	IF $1 <> 'public' AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = $1) THEN
		RAISE EXCEPTION USING ERRCODE = 'undefined_object',
			MESSAGE = pg_catalog.format('role "%s" does not exist', pg_catalog.left($1, 64));
	END IF;
	IF $2 = '' OR pg_catalog.octet_length($2) > 255 THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = 'queue_pattern must be 1 to 255 bytes long';
	END IF;
	IF pg_catalog.cardinality($3) = 0 OR NOT $3 <@ ARRAY['produce', 'consume', 'manage'] THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = 'rights must be a non-empty array of produce, consume and manage';
	END IF;
	INSERT INTO taskmill.queue_grants AS g (grantee, queue_pattern, produce, consume, manage)
	VALUES ($1, $2, 'produce' = ANY ($3), 'consume' = ANY ($3), 'manage' = ANY ($3))
	ON CONFLICT (grantee, queue_pattern) DO UPDATE
	SET produce = g.produce OR excluded.produce,
		consume = g.consume OR excluded.consume,
		manage = g.manage OR excluded.manage;
END
$$;

COMMENT ON FUNCTION taskmill."grant"(text, text, text[]) IS
	'Grant rights (produce, consume, manage) on the queues matching queue_pattern (''*'' = any characters) to a role or ''public''. Superusers and the extension owner only.';

CREATE FUNCTION taskmill.revoke(role_name text, queue_pattern text, rights text[] DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
	PERFORM taskmill.require_grant_manager('revoke');
	IF $1 IS NULL OR $2 IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
			MESSAGE = 'role_name and queue_pattern must not be null';
	END IF;
	IF $3 IS NOT NULL AND NOT $3 <@ ARRAY['produce', 'consume', 'manage'] THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = 'rights must be an array of produce, consume and manage';
	END IF;
	UPDATE taskmill.queue_grants g
	SET produce = g.produce AND $3 IS NOT NULL AND NOT 'produce' = ANY ($3),
		consume = g.consume AND $3 IS NOT NULL AND NOT 'consume' = ANY ($3),
		manage = g.manage AND $3 IS NOT NULL AND NOT 'manage' = ANY ($3)
	WHERE g.grantee = $1 AND g.queue_pattern = $2;
	DELETE FROM taskmill.queue_grants g
	WHERE g.grantee = $1 AND g.queue_pattern = $2 AND NOT (g.produce OR g.consume OR g.manage);
END
$$;

COMMENT ON FUNCTION taskmill.revoke(text, text, text[]) IS
	'Take back rights granted with taskmill.grant on exactly this (role, queue_pattern); rights NULL = all of them. Superusers and the extension owner only.';

CREATE FUNCTION taskmill.has_queue_right(role regrole, queue_name text, rights text)
RETURNS boolean
LANGUAGE C STRICT STABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'taskmill_has_queue_right';

COMMENT ON FUNCTION taskmill.has_queue_right(regrole, text, text) IS
	'Does the role hold the right (produce, consume, manage, or a comma-separated list: any of them) on the queue?';

-- The FIFO group lock of the dequeue statements (secret.c, lock_keys.h): no one else may
-- take it.
CREATE FUNCTION taskmill.try_group_lock(queue_name text, task_group_id text)
RETURNS boolean
LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'taskmill_try_group_lock';

COMMENT ON FUNCTION taskmill.try_group_lock(text, text) IS
	'Internal to dequeue: try the FIFO group''s lock until the end of the transaction. Executable by the extension owner only.';

REVOKE ALL ON FUNCTION taskmill.try_group_lock(text, text) FROM PUBLIC;

-- Every role may call the queue functions; each checks the caller's right on the queue.
GRANT USAGE ON SCHEMA taskmill TO PUBLIC;

CREATE FUNCTION taskmill.listen(queue_name text)
RETURNS text
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'taskmill_listen';

COMMENT ON FUNCTION taskmill.listen(text) IS
	'LISTEN on the queue''s NOTIFY channel (needs the consume right); returns the channel''s name.';

COMMENT ON FUNCTION taskmill.enqueue(text, text, jsonb, integer, integer, timestamptz,
	timestamptz, text, text, boolean, jsonb, boolean) IS
	'Add a task to a queue; returns its id. NULL options take the column defaults of taskmill.tasks (scheduled_at: now()). notify: NULL = NOTIFY the queue''s channel at commit only if a worker waits (wait_begin), true = always, false = never.';

COMMENT ON FUNCTION taskmill.wait_begin(text) IS
	'Declare this session an idle waiter of the queue (until wait_end or disconnect) and LISTEN on its channel: enqueues with notify => NULL then NOTIFY it. False if already waiting.';

-- The console functions move from LANGUAGE sql to C (admin.c): each checks the caller's
-- right on the queue and runs as the extension owner.
DROP FUNCTION taskmill.list_queues();
DROP FUNCTION taskmill.queue_stats(text);
DROP FUNCTION taskmill.purge(text);
DROP FUNCTION taskmill.purge_dlq(text);
DROP FUNCTION taskmill.list_dlq(text, integer, integer);
DROP FUNCTION taskmill.list_results(text, timestamptz, timestamptz, integer, integer);
DROP FUNCTION taskmill.cleanup_results(text, timestamptz);
DROP FUNCTION taskmill.list_schedules(text);

CREATE FUNCTION taskmill.list_queues()
RETURNS TABLE (queue_name text)
LANGUAGE C STABLE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'taskmill_list_queues';

COMMENT ON FUNCTION taskmill.list_queues() IS
	'Names of the queues that have tasks or results and on which the caller holds a right, sorted.';

-- retrying is the part of scheduled that waits for a retry after a nack (attempts > 0);
-- available + in_flight + scheduled + in_dlq = total.
CREATE FUNCTION taskmill.queue_stats(queue_name text)
RETURNS TABLE (
	available bigint,
	in_flight bigint,
	scheduled bigint,
	retrying bigint,
	in_dlq bigint,
	total bigint)
LANGUAGE C STABLE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'taskmill_queue_stats';

COMMENT ON FUNCTION taskmill.queue_stats(text) IS
	'Task counts of a queue by state (one row; zeros for an unknown queue). Needs a right on the queue.';

CREATE FUNCTION taskmill.purge(queue_name text)
RETURNS bigint
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'taskmill_purge';

COMMENT ON FUNCTION taskmill.purge(text) IS
	'Delete a queue''s tasks outside the DLQ (in flight included); returns how many. Needs the manage right.';

CREATE FUNCTION taskmill.purge_dlq(queue_name text)
RETURNS bigint
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'taskmill_purge_dlq';

COMMENT ON FUNCTION taskmill.purge_dlq(text) IS
	'Delete a queue''s dead-letter queue; returns how many tasks. Needs the manage right.';

CREATE FUNCTION taskmill.list_dlq(
	queue_name text DEFAULT NULL,
	"limit" integer DEFAULT 100,
	"offset" integer DEFAULT 0)
RETURNS SETOF taskmill.tasks
LANGUAGE C STABLE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'taskmill_list_dlq';

COMMENT ON FUNCTION taskmill.list_dlq(text, integer, integer) IS
	'Dead-lettered tasks, newest first (all queues the caller manages when queue_name is NULL).';

CREATE FUNCTION taskmill.list_results(
	queue_name text DEFAULT NULL,
	completed_after timestamptz DEFAULT NULL,
	completed_before timestamptz DEFAULT NULL,
	"limit" integer DEFAULT 100,
	"offset" integer DEFAULT 0)
RETURNS SETOF taskmill.task_results
LANGUAGE C STABLE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'taskmill_list_results';

COMMENT ON FUNCTION taskmill.list_results(text, timestamptz, timestamptz, integer, integer) IS
	'Completed tasks, newest first; NULL filters match everything (of the queues the caller manages).';

CREATE FUNCTION taskmill.cleanup_results(
	queue_name text DEFAULT NULL,
	completed_before timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'taskmill_cleanup_results';

COMMENT ON FUNCTION taskmill.cleanup_results(text, timestamptz) IS
	'Delete results (of one queue, completed before a time; NULL matches all the caller manages); returns how many.';

CREATE FUNCTION taskmill.list_schedules(queue_name text DEFAULT NULL)
	RETURNS SETOF taskmill.task_schedules
	LANGUAGE C STABLE PARALLEL UNSAFE
	AS 'MODULE_PATHNAME', 'taskmill_list_schedules';

COMMENT ON FUNCTION taskmill.list_schedules(text) IS
	'Schedules of one queue (manage right), or of all queues the caller manages when queue_name is NULL.';
