/*
 * admin.c
 *		The console functions (list_queues, queue_stats, purge, purge_dlq, list_dlq,
 *		list_results, cleanup_results, list_schedules): one statement each, run as the
 *		extension owner for a caller with the right on the queue.
 *
 * Each is a row of the table below (list_queues, queue_stats and list_results: of
 * console_stats.c's): its statement, the right it needs on the queue its first argument
 * names, and whether it returns a count or rows. A NULL queue
 * (functions that take one mean "every queue") is allowed to everyone: the statement
 * then keeps only the rows of queues the caller holds the right on. For that each
 * statement gets two parameters after the function's own: $n+1 the calling role
 * (regrole) and $n+2 true when no row needs that filter (a named queue whose right was
 * checked, or a superuser / extension owner).
 *
 * Parameters are referenced as $n, operators and functions schema-qualified where a
 * caller's search_path could matter; the statement runs with search_path pinned to
 * pg_catalog, pg_temp anyway (definer.c).
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/tuplestore.h"

#include "console.h"
#include "privileges.h"
#include "taskmill.h"

enum
{
	PURGE, PURGE_DLQ, LIST_DLQ, CLEANUP_RESULTS, LIST_SCHEDULES
};

static AdminStatement statements[] = {
	[PURGE] = {
		"purge", false, false, TM_RIGHT_MANAGE, 1, {TEXTOID},
		"WITH d AS (DELETE FROM taskmill.tasks t"
		"           WHERE t.queue_name = $1 AND t.dlq_at IS NULL"
		"           RETURNING 1)"
		" SELECT pg_catalog.count(*) FROM d"
	},
	[PURGE_DLQ] = {
		"purge_dlq", false, false, TM_RIGHT_MANAGE, 1, {TEXTOID},
		"WITH d AS (DELETE FROM taskmill.tasks t"
		"           WHERE t.queue_name = $1 AND t.dlq_at IS NOT NULL"
		"           RETURNING 1)"
		" SELECT pg_catalog.count(*) FROM d"
	},
	[LIST_DLQ] = {
		"list_dlq", true, true, TM_RIGHT_MANAGE, 3, {TEXTOID, INT4OID, INT4OID},
		"SELECT t.*"
		" FROM taskmill.tasks t"
		" WHERE t.dlq_at IS NOT NULL AND ($1 IS NULL OR t.queue_name = $1)"
		"   AND" VISIBLE("t.queue_name", "$4", "$5", "manage")
		" ORDER BY t.dlq_at DESC, t.id DESC"
		" LIMIT $2 OFFSET $3"
	},
	[CLEANUP_RESULTS] = {
		"cleanup_results", false, false, TM_RIGHT_MANAGE, 2, {TEXTOID, TIMESTAMPTZOID},
		"WITH d AS (DELETE FROM taskmill.task_results r"
		"           WHERE ($1 IS NULL OR r.queue_name = $1)"
		"             AND ($2 IS NULL OR r.completed_at < $2)"
		"             AND" VISIBLE("r.queue_name", "$3", "$4", "manage")
		"           RETURNING 1)"
		" SELECT pg_catalog.count(*) FROM d"
	},
	[LIST_SCHEDULES] = {
		"list_schedules", true, true, TM_RIGHT_MANAGE, 1, {TEXTOID},
		"SELECT s.* FROM taskmill.task_schedules AS s"
		" WHERE ($1 IS NULL OR s.queue_name = $1)"
		"   AND" VISIBLE("s.queue_name", "$2", "$3", "manage")
		" ORDER BY s.queue_name, s.operation_id"
	},
};

/*
 * Copy the SPI result into the function's tuplestore (rsinfo), column by column: the
 * function's row type may have dropped columns that "t.*" leaves out. Column hidden of
 * the result (1-based; 0: none) is returned as NULL.
 */
void
tm_store_rows(ReturnSetInfo *rsinfo, int hidden)
{
	TupleDesc	out = rsinfo->setDesc;
	TupleDesc	in = SPI_tuptable->tupdesc;
	Datum	   *values = palloc(sizeof(Datum) * out->natts);
	bool	   *nulls = palloc(sizeof(bool) * out->natts);
	Datum	   *src = palloc(sizeof(Datum) * in->natts);
	bool	   *srcnull = palloc(sizeof(bool) * in->natts);

	for (uint64 i = 0; i < SPI_processed; i++)
	{
		int			k = 0;

		heap_deform_tuple(SPI_tuptable->vals[i], in, src, srcnull);
		if (hidden > 0)
			srcnull[hidden - 1] = true;
		for (int j = 0; j < out->natts; j++)
		{
			if (TupleDescAttr(out, j)->attisdropped || k >= in->natts)
			{
				values[j] = (Datum) 0;
				nulls[j] = true;
				continue;
			}
			values[j] = src[k];
			nulls[j] = srcnull[k];
			k++;
		}
		tuplestore_putvalues(rsinfo->setResult, out, values, nulls);
	}
}

static void
init_rows(FunctionCallInfo fcinfo)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext old;
	TupleDesc	desc;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) ||
		!(rsinfo->allowedModes & SFRM_Materialize))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("set-valued function called in context that cannot accept a set")));
	old = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
	{
		desc = CreateTemplateTupleDesc(1);
		TupleDescInitEntry(desc, 1, "value", get_fn_expr_rettype(fcinfo->flinfo), -1, 0);
	}
	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setDesc = CreateTupleDescCopy(desc);
	rsinfo->setResult = tuplestore_begin_heap(true, false, work_mem);
	MemoryContextSwitchTo(old);
}

/*
 * Run st for the calling function. Arguments the function lacks (an older version's
 * SQL declares fewer) are NULL. A read runs under taskmill.console_statement_timeout.
 */
Datum
tm_run_admin(FunctionCallInfo fcinfo, AdminStatement *st)
{
	Datum		values[ADMIN_MAX_ARGS + 2];
	char		nulls[ADMIN_MAX_ARGS + 2];
	Oid			argtypes[ADMIN_MAX_ARGS + 2];
	Oid			caller = GetUserId();
	bool		all = tm_is_queue_admin(caller);
	TmOwnerScope scope;
	TmConsoleLimit limit = {0};
	int64		count = 0;

	/* a named queue: the caller's right on it, and then every row of it is visible */
	if (st->nargs > 0 && !PG_ARGISNULL(0) && !all)
	{
		text	   *q = PG_GETARG_TEXT_PP(0);

		tm_require_queue_right(caller, VARDATA_ANY(q), VARSIZE_ANY_EXHDR(q), st->right);
		all = true;
	}
	for (int i = 0; i < st->nargs; i++)
	{
		bool		isnull = i >= PG_NARGS() || PG_ARGISNULL(i);

		values[i] = isnull ? (Datum) 0 : PG_GETARG_DATUM(i);
		nulls[i] = isnull ? 'n' : ' ';
		argtypes[i] = st->argtypes[i];
	}
	values[st->nargs] = ObjectIdGetDatum(caller);
	nulls[st->nargs] = ' ';
	argtypes[st->nargs] = REGROLEOID;
	values[st->nargs + 1] = BoolGetDatum(all);
	nulls[st->nargs + 1] = ' ';
	argtypes[st->nargs + 1] = BOOLOID;

	if (st->returns_rows)
		init_rows(fcinfo);

	tm_owner_begin(&scope);
	tm_spi_connect();
	if (st->read_only)
		tm_console_limit_begin(&limit);
	PG_TRY();
	{
		tm_spi_run_nojit(tm_plan(&st->plan, st->sql, st->nargs + 2, argtypes),
						 values, nulls, st->read_only, 0, SPI_OK_SELECT, st->name);
	}
	PG_FINALLY();
	{
		/* also when an error is caught further up: the caller's deadline comes back */
		tm_console_limit_end(&limit);
	}
	PG_END_TRY();
	if (st->returns_rows)
		tm_store_rows((ReturnSetInfo *) fcinfo->resultinfo, 0);
	else
	{
		bool		isnull;

		if (SPI_processed != 1)
			elog(ERROR, "taskmill: %s returned %llu rows", st->name,
				 (unsigned long long) SPI_processed);
		count = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
											&isnull));
	}
	SPI_finish();
	tm_owner_end(&scope);

	if (st->returns_rows)
		return (Datum) 0;
	PG_RETURN_INT64(count);
}

#define ADMIN_ENTRY(name, index) \
PG_FUNCTION_INFO_V1(taskmill_##name); \
Datum \
taskmill_##name(PG_FUNCTION_ARGS) \
{ \
	return tm_run_admin(fcinfo, &statements[index]); \
}

ADMIN_ENTRY(purge, PURGE)
ADMIN_ENTRY(purge_dlq, PURGE_DLQ)
ADMIN_ENTRY(list_dlq, LIST_DLQ)
ADMIN_ENTRY(cleanup_results, CLEANUP_RESULTS)
ADMIN_ENTRY(list_schedules, LIST_SCHEDULES)
