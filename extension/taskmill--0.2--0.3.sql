-- taskmill 0.2 -> 0.3. Applied by ALTER EXTENSION taskmill UPDATE. Every change to SQL
-- objects since 0.2 is here, and also in extension/sql/*.sql (the full script of 0.3); the
-- upgrade suite checks that both give the same schema.
\echo Use "ALTER EXTENSION taskmill UPDATE TO '0.3'" to load this file. \quit

-- ---- rights: table privileges left from 0.1 ----
-- Table privileges granted directly on the extension's tables and sequences (under 0.1,
-- before queue rights existed, a worker role needed them) survive updates and bypass the
-- queue rights: a role holding SELECT on taskmill.tasks reads every queue's payloads.
-- Revoke every privilege (column privileges included) held by a role other than the
-- owner, each named in a WARNING (an extension script runs with client_min_messages at
-- WARNING or above: a NOTICE would not be seen). The views (health, table_health,
-- xmin_holders) keep their grants: they are granted to monitoring roles on purpose.
DO $$
DECLARE
	r record;
BEGIN
	FOR r IN
		SELECT DISTINCT 'taskmill.' || pg_catalog.quote_ident(c.relname) AS rel, c.relkind, g.grantee
		FROM pg_catalog.pg_class c
		CROSS JOIN LATERAL (
			SELECT x.grantee FROM pg_catalog.aclexplode(c.relacl) x
			UNION
			SELECT x.grantee
			FROM pg_catalog.pg_attribute a, LATERAL pg_catalog.aclexplode(a.attacl) x
			WHERE a.attrelid = c.oid AND a.attacl IS NOT NULL) g
		WHERE c.relnamespace = 'taskmill'::pg_catalog.regnamespace
		  AND c.relkind IN ('r', 'p', 'S')
		  AND g.grantee <> c.relowner
		  -- members of the extension, and the identity sequences of its tables
		  AND EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
					  WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
						AND d.objid = c.oid
						AND ((d.deptype = 'e'
							  AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
							  AND d.refobjid = (SELECT e.oid FROM pg_catalog.pg_extension e
												WHERE e.extname = 'taskmill'))
							 OR (d.deptype IN ('a', 'i')
								 AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
								 AND c.relkind = 'S')))
		ORDER BY 1, 3
	LOOP
		EXECUTE pg_catalog.format('REVOKE ALL ON %s %s FROM %s CASCADE',
			CASE r.relkind WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END, r.rel,
			CASE WHEN r.grantee = 0 THEN 'PUBLIC'
				 ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(r.grantee)) END);
		RAISE WARNING 'taskmill: revoked the privileges of % on %',
			CASE WHEN r.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.pg_get_userbyid(r.grantee)::text END, r.rel
			USING DETAIL = 'Queue rights (taskmill.grant) replace table privileges on taskmill''s tables.';
	END LOOP;
END
$$;

-- ---- scheduler: schedules whose owner the update from 0.1 made up ----
-- The update from 0.1 gave every 0.1 schedule to the role that ran it (ADD COLUMN owner
-- ... DEFAULT CURRENT_USER), so those schedules have run with that role's rights, not
-- with a right anyone granted for them. That role is the column's missing value (the
-- default evaluated once by that ALTER TABLE): a schedule owned by it has no known owner.
-- It stops (next_run_at NULL) until a manager of its queue registers it again, which
-- makes that manager its owner (docs/releases.md, docs/security.md "Scheduler"). A
-- database restored from a dump since, or whose table was rewritten (VACUUM FULL), has
-- no missing value: docs/releases.md says how to find such schedules by hand.
UPDATE taskmill.task_schedules s
SET next_run_at = NULL,
	last_error = 'paused by the update to 0.3: its owner was assigned by the update from 0.1; register it again to resume',
	updated_at = pg_catalog.now()
FROM pg_catalog.pg_attribute a
WHERE a.attrelid = 'taskmill.task_schedules'::pg_catalog.regclass
  AND a.attname = 'owner'
  AND a.atthasmissing
  AND s.owner OPERATOR(pg_catalog.=) (a.attmissingval::text::text[])[1];

-- ---- console: single tasks ----
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

-- ---- console: statements that cost what their answer is worth ----
-- ---- Console reads at any queue size: list_queues, queue_stats and list_results read
-- indexes only (extension/console_stats.c); list_results takes a keyset cursor
-- (completed_before + after_id); the statements can be EXPLAINed; xmin_holders also shows
-- a transaction that holds a transaction id without a snapshot, never the reader itself.

DROP FUNCTION taskmill.list_results(text, timestamptz, timestamptz, integer, integer);

CREATE FUNCTION taskmill.list_results(
	queue_name text DEFAULT NULL,
	completed_after timestamptz DEFAULT NULL,
	completed_before timestamptz DEFAULT NULL,
	"limit" integer DEFAULT 100,
	"offset" integer DEFAULT 0,
	after_id bigint DEFAULT NULL)
RETURNS SETOF taskmill.task_results
LANGUAGE C STABLE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'taskmill_list_results';

COMMENT ON FUNCTION taskmill.list_results(text, timestamptz, timestamptz, integer, integer, bigint) IS
	'Completed tasks, newest first; NULL filters match everything (of the queues the caller manages). Next page: completed_before and after_id of the last row.';

CREATE FUNCTION taskmill.console_statements()
RETURNS TABLE (name text, param_types text, statement text)
LANGUAGE C STABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'taskmill_console_statements';

COMMENT ON FUNCTION taskmill.console_statements() IS
	'The statements of list_queues, queue_stats and list_results with their parameter types, to PREPARE and EXPLAIN.';

-- The two views are replaced in place (their columns so far keep their places, new ones
-- come last), so that the grants they carry (monitoring roles) stay: a DROP and CREATE
-- would lose them, and grants given again by this script would count as the extension's
-- own. (In an extension script PostgreSQL refuses CREATE OR REPLACE of an object that
-- is not a member of the extension.)

CREATE OR REPLACE VIEW taskmill.xmin_holders AS
	SELECT h.kind, h.holder, h.xmin_age, h.since, h.xid_age, h.idle_in_transaction
	FROM (SELECT 'backend'::text AS kind,
				 a.pid::text || ' ' || COALESCE(a.usename::text, '') || ' ' ||
					 COALESCE(a.application_name, '') || ' (' || COALESCE(a.state, '') || ')' AS holder,
				 GREATEST(pg_catalog.age(a.backend_xmin), pg_catalog.age(a.backend_xid)) AS xmin_age,
				 a.xact_start AS since,
				 pg_catalog.age(a.backend_xid) AS xid_age,
				 CASE WHEN a.state LIKE 'idle in transaction%'
					  THEN pg_catalog.now() - a.state_change END AS idle_in_transaction
		  FROM pg_catalog.pg_stat_activity a
		  WHERE (a.backend_xmin IS NOT NULL OR a.backend_xid IS NOT NULL)
			AND COALESCE(a.leader_pid, a.pid) <> pg_catalog.pg_backend_pid()
		  UNION ALL
		  SELECT 'replication slot', r.slot_name::text,
				 pg_catalog.age(COALESCE(r.xmin, r.catalog_xmin)), NULL, NULL, NULL
		  FROM pg_catalog.pg_replication_slots r
		  WHERE COALESCE(r.xmin, r.catalog_xmin) IS NOT NULL
		  UNION ALL
		  SELECT 'prepared transaction', p.gid, pg_catalog.age(p.transaction), p.prepared,
				 pg_catalog.age(p.transaction), NULL
		  FROM pg_catalog.pg_prepared_xacts p) h
	ORDER BY h.xmin_age DESC, h.xid_age DESC NULLS LAST;

COMMENT ON VIEW taskmill.xmin_holders IS
	'Backends (snapshots and transaction ids), replication slots and prepared transactions holding back the xmin horizon, oldest first; not the reading backend.';

CREATE OR REPLACE VIEW taskmill.health AS
	SELECT pg_catalog.pg_notification_queue_usage() AS notify_queue_usage,
		   (SELECT pg_catalog.max(x.xmin_age) FROM taskmill.xmin_holders x) AS oldest_xmin_age,
		   (SELECT pg_catalog.min(a.xact_start) FROM pg_catalog.pg_stat_activity a
			WHERE (a.backend_xmin IS NOT NULL OR a.backend_xid IS NOT NULL)
			  AND COALESCE(a.leader_pid, a.pid) <> pg_catalog.pg_backend_pid()) AS oldest_xact_start,
		   (SELECT h.dead_tuples FROM taskmill.table_health h
			WHERE h.table_name = 'tasks') AS tasks_dead_tuples,
		   (SELECT h.live_tuples FROM taskmill.table_health h
			WHERE h.table_name = 'tasks') AS tasks_live_tuples,
		   (SELECT h.last_autovacuum FROM taskmill.table_health h
			WHERE h.table_name = 'tasks') AS tasks_last_autovacuum;

COMMENT ON VIEW taskmill.health IS
	'One row: NOTIFY queue usage (0..1), oldest xmin age, dead tuples of taskmill.tasks.';

