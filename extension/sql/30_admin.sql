-- 30_admin.sql: console functions (one statement each, LANGUAGE sql) and the views an
-- operator watches to see trouble coming (bloat, a held-back xmin horizon, NOTIFY queue).
--
-- Parameters are referenced as $n: in a SQL function a column of the same name would
-- win over a parameter name.

-- A loose index scan (one index probe per distinct queue) over the three indexes that
-- lead with queue_name and together cover every row: queued tasks, the DLQ, results.
CREATE FUNCTION taskmill.list_queues()
RETURNS TABLE (queue_name text)
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
	WITH RECURSIVE
	queued(q) AS (
		(SELECT t.queue_name FROM taskmill.tasks t WHERE t.dlq_at IS NULL
		 ORDER BY t.queue_name LIMIT 1)
		UNION ALL
		SELECT (SELECT t.queue_name FROM taskmill.tasks t
				WHERE t.dlq_at IS NULL AND t.queue_name > queued.q
				ORDER BY t.queue_name LIMIT 1)
		FROM queued WHERE queued.q IS NOT NULL),
	dead(q) AS (
		(SELECT t.queue_name FROM taskmill.tasks t WHERE t.dlq_at IS NOT NULL
		 ORDER BY t.queue_name LIMIT 1)
		UNION ALL
		SELECT (SELECT t.queue_name FROM taskmill.tasks t
				WHERE t.dlq_at IS NOT NULL AND t.queue_name > dead.q
				ORDER BY t.queue_name LIMIT 1)
		FROM dead WHERE dead.q IS NOT NULL),
	done(q) AS (
		(SELECT r.queue_name FROM taskmill.task_results r ORDER BY r.queue_name LIMIT 1)
		UNION ALL
		SELECT (SELECT r.queue_name FROM taskmill.task_results r
				WHERE r.queue_name > done.q
				ORDER BY r.queue_name LIMIT 1)
		FROM done WHERE done.q IS NOT NULL)
	SELECT u.q FROM (SELECT q FROM queued UNION SELECT q FROM dead UNION SELECT q FROM done) u
	WHERE u.q IS NOT NULL
	ORDER BY 1
$$;

COMMENT ON FUNCTION taskmill.list_queues() IS
	'Names of the queues that have tasks or results, sorted.';

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
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
	SELECT s.available, s.in_flight, s.scheduled, s.retrying, d.in_dlq,
		   s.available + s.in_flight + s.scheduled + d.in_dlq
	FROM (SELECT pg_catalog.count(*) FILTER (WHERE t.visible_at <= pg_catalog.now()) AS available,
				 pg_catalog.count(*) FILTER (WHERE t.lease IS NOT NULL
											  AND t.visible_at > pg_catalog.now()) AS in_flight,
				 pg_catalog.count(*) FILTER (WHERE t.lease IS NULL
											  AND t.visible_at > pg_catalog.now()) AS scheduled,
				 pg_catalog.count(*) FILTER (WHERE t.lease IS NULL AND t.attempts > 0
											  AND t.visible_at > pg_catalog.now()) AS retrying
		  FROM taskmill.tasks t
		  WHERE t.queue_name = $1 AND t.dlq_at IS NULL) s,
		 (SELECT pg_catalog.count(*) AS in_dlq
		  FROM taskmill.tasks t
		  WHERE t.queue_name = $1 AND t.dlq_at IS NOT NULL) d
$$;

COMMENT ON FUNCTION taskmill.queue_stats(text) IS
	'Task counts of a queue by state (one row; zeros for an unknown queue).';

CREATE FUNCTION taskmill.purge(queue_name text)
RETURNS bigint
LANGUAGE sql VOLATILE PARALLEL UNSAFE
AS $$
	WITH d AS (DELETE FROM taskmill.tasks t
			   WHERE t.queue_name = $1 AND t.dlq_at IS NULL
			   RETURNING 1)
	SELECT pg_catalog.count(*) FROM d
$$;

COMMENT ON FUNCTION taskmill.purge(text) IS
	'Delete a queue''s tasks outside the DLQ (in flight included); returns how many.';

CREATE FUNCTION taskmill.purge_dlq(queue_name text)
RETURNS bigint
LANGUAGE sql VOLATILE PARALLEL UNSAFE
AS $$
	WITH d AS (DELETE FROM taskmill.tasks t
			   WHERE t.queue_name = $1 AND t.dlq_at IS NOT NULL
			   RETURNING 1)
	SELECT pg_catalog.count(*) FROM d
$$;

COMMENT ON FUNCTION taskmill.purge_dlq(text) IS
	'Delete a queue''s dead-letter queue; returns how many tasks.';

CREATE FUNCTION taskmill.list_dlq(
	queue_name text DEFAULT NULL,
	"limit" integer DEFAULT 100,
	"offset" integer DEFAULT 0)
RETURNS SETOF taskmill.tasks
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
	SELECT t.*
	FROM taskmill.tasks t
	WHERE t.dlq_at IS NOT NULL AND ($1 IS NULL OR t.queue_name = $1)
	ORDER BY t.dlq_at DESC, t.id DESC
	LIMIT $2 OFFSET $3
$$;

COMMENT ON FUNCTION taskmill.list_dlq(text, integer, integer) IS
	'Dead-lettered tasks, newest first (all queues when queue_name is NULL).';

CREATE FUNCTION taskmill.list_results(
	queue_name text DEFAULT NULL,
	completed_after timestamptz DEFAULT NULL,
	completed_before timestamptz DEFAULT NULL,
	"limit" integer DEFAULT 100,
	"offset" integer DEFAULT 0)
RETURNS SETOF taskmill.task_results
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
	SELECT r.*
	FROM taskmill.task_results r
	WHERE ($1 IS NULL OR r.queue_name = $1)
	  AND ($2 IS NULL OR r.completed_at > $2)
	  AND ($3 IS NULL OR r.completed_at < $3)
	ORDER BY r.completed_at DESC, r.id DESC
	LIMIT $4 OFFSET $5
$$;

COMMENT ON FUNCTION taskmill.list_results(text, timestamptz, timestamptz, integer, integer) IS
	'Completed tasks, newest first; NULL filters match everything.';

CREATE FUNCTION taskmill.cleanup_results(
	queue_name text DEFAULT NULL,
	completed_before timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE sql VOLATILE PARALLEL UNSAFE
AS $$
	WITH d AS (DELETE FROM taskmill.task_results r
			   WHERE ($1 IS NULL OR r.queue_name = $1)
				 AND ($2 IS NULL OR r.completed_at < $2)
			   RETURNING 1)
	SELECT pg_catalog.count(*) FROM d
$$;

COMMENT ON FUNCTION taskmill.cleanup_results(text, timestamptz) IS
	'Delete results (of one queue, completed before a time; NULL matches all); returns how many.';

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
-- long transactions, replication slots, prepared transactions; oldest first.
CREATE VIEW taskmill.xmin_holders AS
	SELECT h.kind, h.holder, h.xmin_age, h.since
	FROM (SELECT 'backend'::text AS kind,
				 a.pid::text || ' ' || COALESCE(a.usename::text, '') || ' ' ||
					 COALESCE(a.application_name, '') || ' (' || COALESCE(a.state, '') || ')' AS holder,
				 pg_catalog.age(a.backend_xmin) AS xmin_age,
				 a.xact_start AS since
		  FROM pg_catalog.pg_stat_activity a
		  WHERE a.backend_xmin IS NOT NULL
		  UNION ALL
		  SELECT 'replication slot', r.slot_name::text,
				 pg_catalog.age(COALESCE(r.xmin, r.catalog_xmin)), NULL
		  FROM pg_catalog.pg_replication_slots r
		  WHERE COALESCE(r.xmin, r.catalog_xmin) IS NOT NULL
		  UNION ALL
		  SELECT 'prepared transaction', p.gid, pg_catalog.age(p.transaction), p.prepared
		  FROM pg_catalog.pg_prepared_xacts p) h
	ORDER BY h.xmin_age DESC;

COMMENT ON VIEW taskmill.xmin_holders IS
	'Backends, replication slots and prepared transactions holding back the xmin horizon, oldest first.';

-- One row to alert on.
CREATE VIEW taskmill.health AS
	SELECT pg_catalog.pg_notification_queue_usage() AS notify_queue_usage,
		   (SELECT pg_catalog.max(x.xmin_age) FROM taskmill.xmin_holders x) AS oldest_xmin_age,
		   (SELECT pg_catalog.min(a.xact_start) FROM pg_catalog.pg_stat_activity a
			WHERE a.backend_xmin IS NOT NULL) AS oldest_xact_start,
		   (SELECT h.dead_tuples FROM taskmill.table_health h
			WHERE h.table_name = 'tasks') AS tasks_dead_tuples,
		   (SELECT h.live_tuples FROM taskmill.table_health h
			WHERE h.table_name = 'tasks') AS tasks_live_tuples,
		   (SELECT h.last_autovacuum FROM taskmill.table_health h
			WHERE h.table_name = 'tasks') AS tasks_last_autovacuum;

COMMENT ON VIEW taskmill.health IS
	'One row: NOTIFY queue usage (0..1), oldest xmin age, dead tuples of taskmill.tasks.';
