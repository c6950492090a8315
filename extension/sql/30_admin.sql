-- 30_admin.sql: console functions (one statement each, in extension/admin.c: each checks
-- the caller's right on the queue and runs as the extension owner) and the views an
-- operator watches to see trouble coming (bloat, a held-back xmin horizon, NOTIFY queue).
-- The views are granted to no one: GRANT SELECT on them to a monitoring role.

CREATE FUNCTION taskmill.list_queues()
RETURNS TABLE (queue_name text)
LANGUAGE C STABLE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'taskmill_list_queues';

COMMENT ON FUNCTION taskmill.list_queues() IS
	'Names of the queues that have tasks or results and on which the caller holds a right, sorted.';

-- States as docs/sql-api.md derives them. retrying is the part of scheduled that waits for a
-- retry after a nack (attempts > 0); available + in_flight + scheduled + in_dlq = total.
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

-- Newest first. A later page is asked for with the last row's completed_at
-- (completed_before) and id (after_id): it costs what the first page does, where a deep
-- "offset" reads every row it skips.
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

-- The statements of list_queues, queue_stats and list_results, to PREPARE and EXPLAIN.
CREATE FUNCTION taskmill.console_statements()
RETURNS TABLE (name text, param_types text, statement text)
LANGUAGE C STABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'taskmill_console_statements';

COMMENT ON FUNCTION taskmill.console_statements() IS
	'The statements of list_queues, queue_stats and list_results with their parameter types, to PREPARE and EXPLAIN.';

CREATE FUNCTION taskmill.cleanup_results(
	queue_name text DEFAULT NULL,
	completed_before timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'taskmill_cleanup_results';

COMMENT ON FUNCTION taskmill.cleanup_results(text, timestamptz) IS
	'Delete results (of one queue, completed before a time; NULL matches all the caller manages); returns how many.';

-- ---- Single tasks (extension/task_admin.c; the manage right on the task's queue) ----

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

-- ---- Operator views ----

-- Bloat: dead tuples of the extension's tables and when (auto)vacuum last ran.
CREATE VIEW taskmill.table_health AS
	SELECT s.relname::text AS table_name,
		   s.n_live_tup AS live_tuples,
		   s.n_dead_tup AS dead_tuples,
		   CASE WHEN s.n_live_tup + s.n_dead_tup > 0
				THEN pg_catalog.round(s.n_dead_tup::numeric / (s.n_live_tup + s.n_dead_tup), 3)
		   END AS dead_ratio,
		   pg_catalog.pg_total_relation_size(s.relid) AS total_bytes,
		   s.n_tup_hot_upd AS hot_updates,
		   s.n_tup_upd AS updates,
		   s.last_vacuum,
		   s.last_autovacuum,
		   s.autovacuum_count,
		   s.last_autoanalyze
	FROM pg_catalog.pg_stat_all_tables s
	WHERE s.schemaname = 'taskmill';

COMMENT ON VIEW taskmill.table_health IS
	'Dead tuples and vacuum activity of the taskmill tables.';

-- What holds the xmin horizon back (and so keeps vacuum from removing dead task rows):
-- long transactions (their snapshot, or the transaction id of one that wrote: an idle
-- transaction that wrote holds no snapshot), replication slots, prepared transactions;
-- oldest first, of two of the same age the one holding a transaction id first (a snapshot
-- taken while it ran is held back by it). Never the backend that reads the view.
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

-- One row to alert on.
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
