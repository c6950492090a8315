/*
 * task_admin.c
 *		A manager's view of single tasks: taskmill.list_tasks (a queue's tasks, by id, a
 *		page at a time) and taskmill.delete_task (one task out of the queue, the next
 *		head of its FIFO group woken). Both need the manage right on the task's queue and
 *		run as the extension owner.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/tuplestore.h"

#include "console.h"
#include "privileges.h"
#include "taskmill.h"

/* The most rows one list_tasks call returns (the next page starts after the last id). */
#define TM_LIST_TASKS_MAX 1000

/* The states list_tasks filters by, as docs/sql-api.md and 10_schema.sql derive them. */
static const char *const task_states[] = {
	"available", "in_flight", "scheduled", "retrying", "in_dlq"
};

/*
 * $1 queue, $2 state (0 = any, else 1 + the index in task_states), $3 group or NULL,
 * $4 the last id of the previous page or NULL, $5 limit. In id order (the primary key);
 * a state or group that matches few of a large queue's tasks reads more of them.
 */
static const char *const list_sql =
"SELECT t.* FROM taskmill.tasks t"
" WHERE t.queue_name = $1"
"   AND ($3 IS NULL OR t.task_group_id = $3)"
"   AND ($4 IS NULL OR t.id > $4)"
"   AND CASE $2"
"     WHEN 0 THEN true"
"     WHEN 1 THEN t.dlq_at IS NULL AND t.visible_at <= pg_catalog.now()"
"     WHEN 2 THEN t.dlq_at IS NULL AND t.lease IS NOT NULL AND t.visible_at > pg_catalog.now()"
"     WHEN 3 THEN t.dlq_at IS NULL AND t.lease IS NULL AND t.visible_at > pg_catalog.now()"
"     WHEN 4 THEN t.dlq_at IS NULL AND t.lease IS NULL AND t.visible_at > pg_catalog.now()"
"                 AND t.attempts > 0"
"     ELSE t.dlq_at IS NOT NULL END"
" ORDER BY t.id LIMIT $5";

static const Oid list_argtypes[5] = {TEXTOID, INT4OID, TEXTOID, INT8OID, INT4OID};

/* The task's queue, and whether it is in flight now (a lease whose time has not run out). */
static const char *const lookup_sql =
"SELECT t.queue_name, t.dlq_at IS NULL AND t.lease IS NOT NULL AND t.visible_at > pg_catalog.now()"
" FROM taskmill.tasks t WHERE t.id = $1";

/*
 * Delete the task unless it is in flight ($2: force). Its group, when it leaves one
 * (a task in the DLQ is no part of its group's order), for the wake-up.
 */
static const char *const delete_sql =
"DELETE FROM taskmill.tasks t"
" WHERE t.id = $1"
"   AND ($2 OR NOT (t.dlq_at IS NULL AND t.lease IS NOT NULL AND t.visible_at > pg_catalog.now()))"
" RETURNING t.queue_name, CASE WHEN t.dlq_at IS NULL THEN t.task_group_id END";

static const Oid lookup_argtypes[1] = {INT8OID};
static const Oid delete_argtypes[2] = {INT8OID, BOOLOID};

static SPIPlanPtr list_plan = NULL;
static SPIPlanPtr lookup_plan = NULL;
static SPIPlanPtr delete_plan = NULL;

/*
 * taskmill.list_tasks(queue_name text, state text DEFAULT NULL, task_group_id text
 *		DEFAULT NULL, after_id bigint DEFAULT NULL, "limit" integer DEFAULT 100)
 *		RETURNS SETOF taskmill.tasks
 *
 * The queue's tasks in id order, at most limit (1 .. TM_LIST_TASKS_MAX) with an id
 * above after_id; NULL filters match every task. lease is always NULL. Needs the manage
 * right on the queue (42501 naming it: the caller named it).
 */
PG_FUNCTION_INFO_V1(taskmill_list_tasks);

Datum
taskmill_list_tasks(PG_FUNCTION_ARGS)
{
	text	   *queue = tm_arg_name(fcinfo, 0, "queue name");
	int32		state = 0;
	int32		limit = PG_ARGISNULL(4) ? 100 : PG_GETARG_INT32(4);
	Datum		values[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};
	TmOwnerScope scope;
	int			lease;

	if (!PG_ARGISNULL(1))
	{
		text	   *s = PG_GETARG_TEXT_PP(1);
		int			len = VARSIZE_ANY_EXHDR(s);

		for (int i = 0; i < (int) lengthof(task_states) && state == 0; i++)
			if (len == (int) strlen(task_states[i]) &&
				memcmp(VARDATA_ANY(s), task_states[i], len) == 0)
				state = i + 1;
		if (state == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown task state \"%s\"", tm_quote(VARDATA_ANY(s), len)),
					 errhint("The states are available, in_flight, scheduled, retrying and in_dlq; NULL lists every task.")));
	}
	if (!PG_ARGISNULL(2))
	{
		text	   *g = PG_GETARG_TEXT_PP(2);

		tm_check_name(VARDATA_ANY(g), VARSIZE_ANY_EXHDR(g), "task group id");
	}
	if (limit < 1 || limit > TM_LIST_TASKS_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("limit %d is out of range", limit),
				 errdetail("limit must be between 1 and %d; pass the last id returned as after_id for the next page.",
						   TM_LIST_TASKS_MAX)));
	tm_require_queue_right(GetUserId(), VARDATA_ANY(queue), VARSIZE_ANY_EXHDR(queue), TM_RIGHT_MANAGE);

	values[0] = PointerGetDatum(queue);
	values[1] = Int32GetDatum(state);
	values[2] = PG_ARGISNULL(2) ? (Datum) 0 : PG_GETARG_DATUM(2);
	nulls[2] = PG_ARGISNULL(2) ? 'n' : ' ';
	values[3] = PG_ARGISNULL(3) ? (Datum) 0 : PG_GETARG_DATUM(3);
	nulls[3] = PG_ARGISNULL(3) ? 'n' : ' ';
	values[4] = Int32GetDatum(limit);

	InitMaterializedSRF(fcinfo, 0);
	tm_owner_begin(&scope);
	tm_spi_connect();
	tm_spi_run_nojit(tm_plan(&list_plan, list_sql, 5, list_argtypes), values, nulls, true, 0,
					 SPI_OK_SELECT, "list_tasks");
	/* without the lease: the worker's proof of its delivery, no listing hands it out */
	lease = SPI_fnumber(SPI_tuptable->tupdesc, "lease");
	if (lease <= 0)
		elog(ERROR, "taskmill: list_tasks result has no lease column");
	tm_store_rows((ReturnSetInfo *) fcinfo->resultinfo, lease);
	SPI_finish();
	tm_owner_end(&scope);
	return (Datum) 0;
}

/*
 * One answer for a task that does not exist and for a task of a queue the caller cannot
 * manage: whether a task id exists is not the business of a role without the right.
 */
static void
raise_not_managed(int64 task_id)
{
	ereport(ERROR,
			(errcode(ERRCODE_NO_DATA_FOUND),
			 errmsg("task %lld does not exist or is not on a queue you manage", (long long) task_id),
			 errdetail("Deleting a task needs the manage right on its queue.")));
}

/*
 * taskmill.delete_task(task_id bigint, force boolean DEFAULT false) RETURNS void
 *
 * Delete one task, in the DLQ or not. A task in flight (a delivery whose visibility
 * timeout has not passed) only with force: its worker's ack then raises P0002, as after
 * purge. If it was in a FIFO group, the group's next head is woken in the same
 * transaction. P0002 for a task that does not exist or whose queue the caller cannot
 * manage (one message for both), 55006 for a task in flight without force.
 */
PG_FUNCTION_INFO_V1(taskmill_delete_task);

Datum
taskmill_delete_task(PG_FUNCTION_ARGS)
{
	int64		task_id = tm_arg_task_id(fcinfo, 0);
	bool		force = PG_ARGISNULL(1) ? false : PG_GETARG_BOOL(1);
	Datum		values[2] = {Int64GetDatum(task_id), BoolGetDatum(force)};
	MemoryContext caller = CurrentMemoryContext;
	TmOwnerScope scope;
	char	   *queue_name;
	bool		isnull;
	bool		woke = false;

	tm_owner_begin(&scope);
	tm_spi_connect();
	tm_spi_run(tm_plan(&lookup_plan, lookup_sql, 1, lookup_argtypes), values, NULL, true, 1,
			   SPI_OK_SELECT, "task lookup");
	if (SPI_processed == 0)
		raise_not_managed(task_id);
	queue_name = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	if (!tm_has_queue_right(tm_calling_user(), queue_name, strlen(queue_name), TM_RIGHT_MANAGE))
		raise_not_managed(task_id);

	tm_spi_run(tm_plan(&delete_plan, delete_sql, 2, delete_argtypes), values, NULL, false, 0,
			   SPI_OK_DELETE_RETURNING, "delete_task");
	if (SPI_processed == 0)
	{
		/* gone meanwhile, or in flight (perhaps only since the lookup) */
		tm_spi_run(tm_plan(&lookup_plan, lookup_sql, 1, lookup_argtypes), values, NULL, true, 1,
				   SPI_OK_SELECT, "task lookup");
		if (SPI_processed == 0)
			raise_not_managed(task_id);
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("task %lld is in flight", (long long) task_id),
				 errdetail("A worker holds a delivery of the task whose visibility timeout has not passed."),
				 errhint("Pass force => true to delete it anyway: the worker's ack of the delivery then fails with P0002, as after a purge.")));
	}
	else
	{
		Datum		group = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);

		if (!isnull)
		{
			TmGroups	g;

			tm_groups_init(&g);
			tm_groups_add(&g, SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull),
						  group);
			tm_groups_wake(&g);
			woke = true;
		}
	}
	/* SPI's memory goes at SPI_finish: copy the name into the caller's context. */
	queue_name = MemoryContextStrdup(caller, queue_name);
	SPI_finish();
	if (woke)
		tm_notify_queue_if_waiting(queue_name);
	tm_owner_end(&scope);
	PG_RETURN_VOID();
}
