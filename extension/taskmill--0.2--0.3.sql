-- taskmill 0.2 -> 0.3. Applied by ALTER EXTENSION taskmill UPDATE. Every change to SQL
-- objects since 0.2 is here, and also in extension/sql/*.sql (the full script of 0.3); the
-- upgrade suite checks that both give the same schema.
\echo Use "ALTER EXTENSION taskmill UPDATE TO '0.3'" to load this file. \quit

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

DROP VIEW taskmill.health;
DROP VIEW taskmill.xmin_holders;

CREATE VIEW taskmill.xmin_holders AS
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

CREATE VIEW taskmill.health AS
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
