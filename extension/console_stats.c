/*
 * console_stats.c
 *		The console functions that read a queue's size (list_queues, queue_stats,
 *		list_results), and the time limit every console read runs under.
 *
 * Each statement costs what its answer is worth, whatever else the tables hold: it
 * reads the partial indexes of 10_schema.sql, never a table from end to end.
 *   list_queues	a loose index scan: per distinct queue one probe into each index
 *					that leads with queue_name (the three that together hold every
 *					task outside the DLQ, the DLQ's and the results')
 *   queue_stats	counts from index ranges of the one queue; the rows ready in
 *					tasks_dequeue_idx and those in tasks_leased_idx and tasks_dlq_idx are
 *					counted from their index entries (index-only when the visibility map
 *					allows); only waiting rows, and ready rows not yet due when there are
 *					any, are read from the heap
 *   list_results	newest first from task_results_queue_completed_idx, walked backwards
 *					from the page's start: a later page is asked for by the last row's
 *					(completed_at, id) (keyset), so it costs what the first one does;
 *					OFFSET still works, at the cost of the rows skipped
 *
 * The statements run as generic saved plans (plans.c), so every parameter that bounds
 * an index range is written so that a NULL widens the range (COALESCE to infinity)
 * instead of an "$n IS NULL OR" that no index can take. The regression test
 * sql/queue_explain_console.sql EXPLAINs them (taskmill.console_statements()).
 */
#include "postgres.h"

#include <limits.h>

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/timeout.h"
#include "utils/timestamp.h"

#include "console.h"
#include "privileges.h"
#include "taskmill.h"

/* taskmill.console_statement_timeout: the longest a console read may run (ms; 0: none) */
static int	tm_console_statement_timeout = 10000;

void
taskmill_console_define_gucs(void)
{
	DefineCustomIntVariable("taskmill.console_statement_timeout",
							"Longest run of one console read (list_queues, queue_stats, list_results, list_dlq, list_schedules).",
							"Also bounds a read called inside a longer statement; an earlier statement_timeout still applies. 0 sets no limit of its own.",
							&tm_console_statement_timeout,
							10000, 0, INT_MAX, PGC_USERSET, GUC_UNIT_MS, NULL, NULL, NULL);
}

/*
 * Arm the statement timeout at now + the limit unless the statement's own deadline
 * comes first. The executor checks for it as it checks for a cancel; the error is
 * statement_timeout's (57014, "canceling statement due to statement timeout").
 */
void
tm_console_limit_begin(TmConsoleLimit *limit)
{
	TimestampTz deadline;

	limit->armed = false;
	if (tm_console_statement_timeout <= 0)
		return;
	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), tm_console_statement_timeout);
	limit->outer_active = get_timeout_active(STATEMENT_TIMEOUT);
	limit->outer_finish = limit->outer_active ? get_timeout_finish_time(STATEMENT_TIMEOUT) : 0;
	if (limit->outer_active && limit->outer_finish <= deadline)
		return;
	enable_timeout_at(STATEMENT_TIMEOUT, deadline);
	limit->armed = true;
}

void
tm_console_limit_end(TmConsoleLimit *limit)
{
	if (!limit->armed)
		return;
	limit->armed = false;
	if (limit->outer_active)
		enable_timeout_at(STATEMENT_TIMEOUT, limit->outer_finish);
	else if (get_timeout_active(STATEMENT_TIMEOUT))
		disable_timeout(STATEMENT_TIMEOUT, false);
}

/* the first queue name in one index, of those that pass "cond" */
#define NEXT_QUEUE(tbl, cond) \
	"(SELECT x.queue_name FROM taskmill." tbl " x" \
	" WHERE " cond " ORDER BY x.queue_name LIMIT 1)"

/*
 * The first queue name of "more" in all the indexes that lead with queue_name and
 * together hold every row of a queue: tasks ready, waiting and leased, the DLQ, results.
 */
#define NEXT_QUEUE_ANY(more) \
	"LEAST(" \
	NEXT_QUEUE("tasks", "x.dlq_at IS NULL AND x.lease IS NULL AND NOT x.waiting" more) "," \
	NEXT_QUEUE("tasks", "x.dlq_at IS NULL AND x.lease IS NULL AND x.waiting" more) "," \
	NEXT_QUEUE("tasks", "x.dlq_at IS NULL AND x.lease IS NOT NULL" more) "," \
	NEXT_QUEUE("tasks", "x.dlq_at IS NOT NULL" more) "," \
	NEXT_QUEUE("task_results", "true" more) ")"

#define AFTER_QS " AND x.queue_name > qs.q"

/*
 * list_results' rows of one queue ($q), newest first, from its index: after $2, before
 * $3 and, when $6 (after_id) is given, at $3 only those of an id below $6. The index
 * range is completed_at in ($2, $3]; the row comparison then drops what is not after
 * the cursor.
 */
#define RESULTS_OF(q, lim) \
	"SELECT r.* FROM taskmill.task_results r" \
	" WHERE r.queue_name = " q \
	"   AND r.completed_at > COALESCE($2, '-infinity'::timestamptz)" \
	"   AND r.completed_at <= COALESCE($3, 'infinity'::timestamptz)" \
	"   AND ($3 IS NULL OR r.completed_at < $3 OR (r.completed_at = $3 AND r.id < $6))" \
	" ORDER BY r.completed_at DESC, r.id DESC" \
	" LIMIT " lim

#define RESULTS_ARGS {TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID, INT4OID, INT4OID, INT8OID}

enum
{
	LIST_QUEUES, QUEUE_STATS, LIST_RESULTS, LIST_RESULTS_ALL
};

static AdminStatement statements[] = {
	[LIST_QUEUES] = {
		"list_queues", true, true, TM_RIGHT_ANY, 0, {InvalidOid},
		"WITH RECURSIVE qs(q) AS ("
		"  SELECT " NEXT_QUEUE_ANY("")
		"  UNION ALL"
		"  SELECT " NEXT_QUEUE_ANY(AFTER_QS) " FROM qs WHERE qs.q IS NOT NULL)"
		" SELECT qs.q FROM qs"
		" WHERE qs.q IS NOT NULL AND" VISIBLE("qs.q", "$1", "$2", "produce,consume,manage")
		" ORDER BY 1"
	},
	[QUEUE_STATS] = {
		/*
		 * States as 10_schema.sql defines them, each summed over the indexes that hold
		 * it: available (due) rows of the ready, waiting and leased indexes; in flight,
		 * leased rows not yet due; scheduled, ready and waiting rows not yet due, of
		 * which retrying is the part that was tried before. The ready and leased rows
		 * are counted from their index entries (visible_at is a key column of both:
		 * index-only where the visibility map allows); attempts is read from the heap
		 * only for waiting rows and, when there are any, for ready rows not yet due (the
		 * CASE runs that scan only then).
		 */
		"queue_stats", true, true, TM_RIGHT_ANY, 1, {TEXTOID},
		"SELECT r.due + w.due + l.due, l.later, r.later + w.later,"
		"       w.retrying + CASE WHEN r.later = 0 THEN 0 ELSE"
		"         (SELECT pg_catalog.count(*) FROM taskmill.tasks t"
		"          WHERE t.queue_name = $1 AND t.dlq_at IS NULL AND t.lease IS NULL AND NOT t.waiting"
		"            AND t.visible_at > pg_catalog.now() AND t.attempts > 0) END,"
		"       d.n, r.due + w.due + l.due + l.later + r.later + w.later + d.n"
		" FROM (SELECT pg_catalog.count(*) FILTER (WHERE t.visible_at <= pg_catalog.now()) AS due,"
		"              pg_catalog.count(*) FILTER (WHERE t.visible_at > pg_catalog.now()) AS later"
		"       FROM taskmill.tasks t"
		"       WHERE t.queue_name = $1 AND t.dlq_at IS NULL AND t.lease IS NULL AND NOT t.waiting) r,"
		"      (SELECT pg_catalog.count(*) FILTER (WHERE t.visible_at <= pg_catalog.now()) AS due,"
		"              pg_catalog.count(*) FILTER (WHERE t.visible_at > pg_catalog.now()) AS later,"
		"              pg_catalog.count(*) FILTER (WHERE t.visible_at > pg_catalog.now()"
		"                                          AND t.attempts > 0) AS retrying"
		"       FROM taskmill.tasks t"
		"       WHERE t.queue_name = $1 AND t.dlq_at IS NULL AND t.lease IS NULL AND t.waiting) w,"
		"      (SELECT pg_catalog.count(*) FILTER (WHERE t.visible_at <= pg_catalog.now()) AS due,"
		"              pg_catalog.count(*) FILTER (WHERE t.visible_at > pg_catalog.now()) AS later"
		"       FROM taskmill.tasks t"
		"       WHERE t.queue_name = $1 AND t.dlq_at IS NULL AND t.lease IS NOT NULL) l,"
		"      (SELECT pg_catalog.count(*) AS n FROM taskmill.tasks t"
		"       WHERE t.queue_name = $1 AND t.dlq_at IS NOT NULL) d"
	},
	[LIST_RESULTS] = {
		"list_results", true, true, TM_RIGHT_MANAGE, 6, RESULTS_ARGS,
		RESULTS_OF("$1", "$4") " OFFSET $5"
	},
	[LIST_RESULTS_ALL] = {
		/*
		 * Every queue the caller manages: the first offset + limit rows of each queue
		 * (a loose index scan finds the queues), merged.
		 */
		"list_results", true, true, TM_RIGHT_MANAGE, 6, RESULTS_ARGS,
		"WITH RECURSIVE qs(q) AS ("
		"  SELECT " NEXT_QUEUE("task_results", "true")
		"  UNION ALL"
		"  SELECT " NEXT_QUEUE("task_results", "true" AFTER_QS) " FROM qs WHERE qs.q IS NOT NULL)"
		" SELECT p.* FROM qs CROSS JOIN LATERAL ("
		RESULTS_OF("qs.q", "$4::bigint + GREATEST(COALESCE($5, 0), 0)") ") p"
		" WHERE qs.q IS NOT NULL AND" VISIBLE("qs.q", "$7", "$8", "manage")
		" ORDER BY p.completed_at DESC, p.id DESC"
		" LIMIT $4 OFFSET $5"
	},
};

PG_FUNCTION_INFO_V1(taskmill_list_queues);
Datum
taskmill_list_queues(PG_FUNCTION_ARGS)
{
	return tm_run_admin(fcinfo, &statements[LIST_QUEUES]);
}

PG_FUNCTION_INFO_V1(taskmill_queue_stats);
Datum
taskmill_queue_stats(PG_FUNCTION_ARGS)
{
	return tm_run_admin(fcinfo, &statements[QUEUE_STATS]);
}

/*
 * list_results(queue_name, completed_after, completed_before, limit, offset[, after_id])
 * (0.2's SQL declares no after_id). after_id continues a listing after its last row:
 * completed_before is that row's completed_at, after_id its id.
 */
PG_FUNCTION_INFO_V1(taskmill_list_results);
Datum
taskmill_list_results(PG_FUNCTION_ARGS)
{
	if (PG_NARGS() > 5 && !PG_ARGISNULL(5) && PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("after_id needs completed_before"),
				 errhint("Pass the completed_at and the id of the last row of the previous page.")));
	return tm_run_admin(fcinfo, &statements[PG_ARGISNULL(0) ? LIST_RESULTS_ALL : LIST_RESULTS]);
}

PG_FUNCTION_INFO_V1(taskmill_console_statements);

/*
 * taskmill.console_statements() RETURNS TABLE (name text, param_types text, statement text)
 *
 * The statements of list_queues, queue_stats and list_results with the types of their
 * parameters (the function's own, then the caller's role and the "no filter" flag), so
 * that each can be PREPAREd and EXPLAINed.
 */
Datum
taskmill_console_statements(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	static const char *const names[] = {
		[LIST_QUEUES] = "list_queues",
		[QUEUE_STATS] = "queue_stats",
		[LIST_RESULTS] = "list_results",
		[LIST_RESULTS_ALL] = "list_results_all_queues",
	};

	InitMaterializedSRF(fcinfo, 0);
	for (int i = 0; i < (int) lengthof(statements); i++)
	{
		Datum		values[3];
		bool		nulls[3] = {false, false, false};
		StringInfoData types;

		initStringInfo(&types);
		for (int t = 0; t < statements[i].nargs; t++)
			appendStringInfo(&types, "%s, ", format_type_be(statements[i].argtypes[t]));
		appendStringInfoString(&types, "regrole, boolean");
		values[0] = CStringGetTextDatum(names[i]);
		values[1] = CStringGetTextDatum(types.data);
		values[2] = CStringGetTextDatum(statements[i].sql);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
