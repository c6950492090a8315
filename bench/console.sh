#!/usr/bin/env bash
# The console at a million tasks: what list_queues, queue_stats and list_results cost when
# one queue is huge. Builds and installs the extension (as scripts/test.sh does), starts a
# throwaway cluster, fills it with INSERT ... SELECT (no client round trips):
#   queue "big":  900 000 available, 50 000 dead-lettered, RESULTS results (acked)
#   q1 .. q9:     1 000 available each
#   tiny:         1 task
# VACUUM ANALYZE (the visibility map lets index-only scans skip the heap), then times each
# console call as a caller runs it (best of 3, ms) and EXPLAIN (ANALYZE, BUFFERS) of its
# statement as the function runs it (generic plan, from taskmill.console_statements()):
# execution time and shared buffers touched. The 0.2 statements run on the same data for
# comparison (their text is below). Prints one table. Not part of scripts/test.sh.
#
#   bench/console.sh                  RESULTS=550000 (so that OFFSET 500000 exists)
#   RESULTS=50000 bench/console.sh    fewer results: deep page at OFFSET RESULTS - 1000
#   PLANS=1 bench/console.sh          also the plans of queue_stats('big') and the deep page
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP"
RESULTS=${RESULTS:-550000}
DEEP=$((RESULTS > 501000 ? 500000 : RESULTS - 1000))

scripts/provision.sh >/dev/null || exit 1
. scripts/pg-root.sh
pg_root_create "$TOP/build/pgroot" >/dev/null || exit 1
make -s >/dev/null && make -s install DESTDIR="$PGROOT" >/dev/null
# autovacuum off: its ANALYZE running beside the VACUUM below would hold back the horizon and
# leave the visibility map half set, and the plans would vary from run to run
eval "$(scripts/pg-cluster.sh start -c max_wal_size=4GB -c checkpoint_timeout=30min -c autovacuum=off)"
trap 'scripts/pg-cluster.sh stop "$TASKMILL_PGDATA"' EXIT
export PGDATABASE=console_bench
psql -X -q -d postgres -c "CREATE DATABASE console_bench"
q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }

t0=$(date +%s)
q <<SQL
CREATE EXTENSION taskmill;
INSERT INTO taskmill.tasks (queue_name, operation_id, payload)
SELECT 'big', 'op', '{"n": 1}' FROM generate_series(1, 900000);
INSERT INTO taskmill.tasks (queue_name, operation_id, payload, attempts, dlq_at, dlq_reason, last_error)
SELECT 'big', 'op', '{"n": 1}', 3, now() - i * interval '1 second', 'max attempts reached', 'boom'
FROM generate_series(1, 50000) i;
INSERT INTO taskmill.tasks (queue_name, operation_id)
SELECT 'q' || (1 + i % 9), 'op' FROM generate_series(0, 8999) i;
INSERT INTO taskmill.tasks (queue_name, operation_id) VALUES ('tiny', 'op');
INSERT INTO taskmill.task_results (id, queue_name, operation_id, payload, priority, attempts,
	max_attempts, idempotency_key, created_at, scheduled_at, completed_at, result)
SELECT 10000000 + i, 'big', 'op', '{"n": 1}', 0, 1, 3, 'taskmill:' || (10000000 + i),
	now() - interval '1 day', now() - interval '1 day', now() - i * interval '100 milliseconds', '{"ok": true}'
FROM generate_series(1, $RESULTS) i;
VACUUM ANALYZE taskmill.tasks;
VACUUM ANALYZE taskmill.task_results;
SQL
echo "filled in $(( $(date +%s) - t0 ))s: $(q -At -c "SELECT count(*) FROM taskmill.tasks") tasks, $RESULTS results"

q <<'SQL'
-- The 0.2 statements (admin.c of 0.2), parameters as the functions pass them.
CREATE TABLE old_statements (name text PRIMARY KEY, param_types text, statement text);
INSERT INTO old_statements VALUES
('list_queues', 'regrole, boolean', $q$
WITH RECURSIVE
 queued(q) AS ((SELECT t.queue_name FROM taskmill.tasks t WHERE t.dlq_at IS NULL ORDER BY t.queue_name LIMIT 1)
  UNION ALL SELECT (SELECT t.queue_name FROM taskmill.tasks t WHERE t.dlq_at IS NULL AND t.queue_name > queued.q
                    ORDER BY t.queue_name LIMIT 1) FROM queued WHERE queued.q IS NOT NULL),
 dead(q) AS ((SELECT t.queue_name FROM taskmill.tasks t WHERE t.dlq_at IS NOT NULL ORDER BY t.queue_name LIMIT 1)
  UNION ALL SELECT (SELECT t.queue_name FROM taskmill.tasks t WHERE t.dlq_at IS NOT NULL AND t.queue_name > dead.q
                    ORDER BY t.queue_name LIMIT 1) FROM dead WHERE dead.q IS NOT NULL),
 done(q) AS ((SELECT r.queue_name FROM taskmill.task_results r ORDER BY r.queue_name LIMIT 1)
  UNION ALL SELECT (SELECT r.queue_name FROM taskmill.task_results r WHERE r.queue_name > done.q
                    ORDER BY r.queue_name LIMIT 1) FROM done WHERE done.q IS NOT NULL)
SELECT u.q FROM (SELECT q FROM queued UNION SELECT q FROM dead UNION SELECT q FROM done) u
WHERE u.q IS NOT NULL AND ($2 OR taskmill.has_queue_right($1, u.q, 'produce,consume,manage')) ORDER BY 1$q$),
('queue_stats', 'text, regrole, boolean', $q$
SELECT s.available, s.in_flight, s.scheduled, s.retrying, d.in_dlq, s.available + s.in_flight + s.scheduled + d.in_dlq
FROM (SELECT count(*) FILTER (WHERE t.visible_at <= now()) AS available,
             count(*) FILTER (WHERE t.lease IS NOT NULL AND t.visible_at > now()) AS in_flight,
             count(*) FILTER (WHERE t.lease IS NULL AND t.visible_at > now()) AS scheduled,
             count(*) FILTER (WHERE t.lease IS NULL AND t.attempts > 0 AND t.visible_at > now()) AS retrying
      FROM taskmill.tasks t WHERE t.queue_name = $1 AND t.dlq_at IS NULL) s,
     (SELECT count(*) AS in_dlq FROM taskmill.tasks t WHERE t.queue_name = $1 AND t.dlq_at IS NOT NULL) d$q$),
('list_results', 'text, timestamptz, timestamptz, integer, integer, regrole, boolean', $q$
SELECT r.* FROM taskmill.task_results r
WHERE ($1 IS NULL OR r.queue_name = $1) AND ($2 IS NULL OR r.completed_at > $2) AND ($3 IS NULL OR r.completed_at < $3)
  AND ($7 OR taskmill.has_queue_right($6, r.queue_name, 'manage'))
ORDER BY r.completed_at DESC, r.id DESC LIMIT $4 OFFSET $5$q$);

-- EXPLAIN (ANALYZE, BUFFERS) of a statement as a generic plan: ms and shared buffers.
CREATE FUNCTION explained(types text, stmt text, args text, OUT ms numeric, OUT buffers bigint)
LANGUAGE plpgsql AS $$
DECLARE
	j json;
BEGIN
	IF stmt IS NULL THEN
		RETURN;
	END IF;
	SET LOCAL plan_cache_mode = force_generic_plan;
	EXECUTE format('PREPARE s(%s) AS %s', types, stmt);
	EXECUTE format('EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) EXECUTE s(%s)', args) INTO j;
	DEALLOCATE s;
	ms := round((j->0->>'Execution Time')::numeric, 2);
	buffers := (j->0->'Plan'->>'Shared Hit Blocks')::bigint + (j->0->'Plan'->>'Shared Read Blocks')::bigint;
END $$;

-- A call as a client makes it: best of 3, ms.
CREATE FUNCTION timed(call text) RETURNS numeric LANGUAGE plpgsql AS $$
DECLARE
	t timestamptz;
	best numeric;
BEGIN
	FOR i IN 1 .. 3 LOOP
		t := clock_timestamp();
		EXECUTE format('SELECT count(*) FROM (%s) x', call);
		best := least(best, extract(epoch FROM clock_timestamp() - t) * 1000);
	END LOOP;
	RETURN round(best, 2);
END $$;
SQL

# the keyset cursor of page N: the last row before it
IFS='|' read -r cur_at cur_id < <(q -At -c "SELECT completed_at, id FROM taskmill.task_results
	WHERE queue_name = 'big' ORDER BY completed_at DESC, id DESC OFFSET $((DEEP - 1)) LIMIT 1")
q -v deep="$DEEP" -v cur_at="$cur_at" -v cur_id="$cur_id" <<'SQL'
\pset footer off
SELECT m.what,
	   m.call,
	   timed(m.call) AS call_ms,
	   n.ms AS stmt_ms, n.buffers AS stmt_buffers,
	   o.ms AS old_stmt_ms, o.buffers AS old_stmt_buffers
FROM (VALUES
	(1, 'queue_stats, one-task queue', 'SELECT * FROM taskmill.queue_stats(''tiny'')',
	 'queue_stats', '''tiny'', NULL, true', '''tiny'', NULL, true'),
	(2, 'queue_stats, 950k-task queue', 'SELECT * FROM taskmill.queue_stats(''big'')',
	 'queue_stats', '''big'', NULL, true', '''big'', NULL, true'),
	(3, 'list_queues', 'SELECT * FROM taskmill.list_queues()',
	 'list_queues', 'NULL, true', 'NULL, true'),
	(4, 'list_results page 1', 'SELECT * FROM taskmill.list_results(''big'', "limit" => 100)',
	 'list_results', '''big'', NULL, NULL, 100, 0, NULL, NULL, true', '''big'', NULL, NULL, 100, 0, NULL, true'),
	(5, 'list_results OFFSET ' || :deep,
	 format('SELECT * FROM taskmill.list_results(''big'', "limit" => 100, "offset" => %s)', :deep),
	 'list_results', format('''big'', NULL, NULL, 100, %s, NULL, NULL, true', :deep),
	 format('''big'', NULL, NULL, 100, %s, NULL, true', :deep)),
	(6, 'list_results page at ' || :deep || ' by keyset',
	 format('SELECT * FROM taskmill.list_results(''big'', completed_before => %L, "limit" => 100, after_id => %s)',
			:'cur_at', :cur_id),
	 'list_results', format('''big'', NULL, %L, 100, 0, %s, NULL, true', :'cur_at', :cur_id), NULL),
	(7, 'list_results, all queues, page 1', 'SELECT * FROM taskmill.list_results("limit" => 100)',
	 'list_results_all_queues', 'NULL, NULL, NULL, 100, 0, NULL, NULL, true',
	 'NULL, NULL, NULL, 100, 0, NULL, true')
	) m(n, what, call, stmt, new_args, old_args)
JOIN taskmill.console_statements() c ON c.name = m.stmt
LEFT JOIN old_statements os ON os.name = replace(m.stmt, '_all_queues', '') AND m.old_args IS NOT NULL
CROSS JOIN LATERAL explained(c.param_types, c.statement, m.new_args) n
CROSS JOIN LATERAL explained(os.param_types, os.statement, m.old_args) o
ORDER BY m.n;
SQL
if [ -n "${PLANS:-}" ]; then
	q <<'SQL'
SET plan_cache_mode = force_generic_plan;
SELECT format('PREPARE %I(%s) AS %s', name, param_types, statement) FROM taskmill.console_statements() \gexec
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE queue_stats('big', NULL, true);
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE list_results('big', NULL, NULL, 100, 500000, NULL, NULL, true);
SQL
fi
echo "(call_ms: the function as a client calls it, best of 3; stmt_*: EXPLAIN (ANALYZE, BUFFERS) of its generic plan; old_*: the 0.2 statement on the same data)"
echo "total $(( $(date +%s) - t0 ))s"
