/*
 * dlq.c
 *		The dead-letter queue's way back: taskmill.requeue_from_dlq.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"

#include "privileges.h"
#include "taskmill.h"

static SPIPlanPtr requeue_plan = NULL;
static SPIPlanPtr lookup_plan = NULL;

/*
 * A fresh start: attempts back to 0, visible now, no lease. An expiry that has passed
 * is cleared too, or the task would go straight back to the DLQ as expired.
 */
const char *const tm_requeue_sql =
"UPDATE taskmill.tasks SET"
"  dlq_at = NULL, dlq_reason = NULL, attempts = 0, lease = NULL,"
"  visible_at = pg_catalog.now(),"
"  expires_at = CASE WHEN expires_at <= pg_catalog.now() THEN NULL ELSE expires_at END"
" WHERE id = $1 AND dlq_at IS NOT NULL"
" RETURNING queue_name";

static const char *lookup_sql =
"SELECT queue_name, dlq_at IS NOT NULL FROM taskmill.tasks WHERE id = $1";

/*
 * One answer for "no such task" and "a task of a queue you do not manage": the same
 * SQLSTATE, message and hint, so that the error tells a caller nothing about tasks it
 * may not see (whether the id exists, whether the task is in the DLQ).
 */
static void
raise_missing_or_not_managed(int64 task_id)
{
	ereport(ERROR,
			(errcode(ERRCODE_NO_DATA_FOUND),
			 errmsg("task %lld does not exist", (long long) task_id),
			 errhint("Tasks of queues on which the role does not hold the manage right are not found either.")));
}

/*
 * taskmill.requeue_from_dlq(task_id bigint) RETURNS void
 *
 * Needs the manage right on the task's queue: P0002 when the task does not exist or
 * the caller does not hold that right (one answer, above); 55000 when the task is not
 * in the DLQ. Runs as the extension owner (definer.c).
 */
PG_FUNCTION_INFO_V1(taskmill_requeue_from_dlq);

const Oid	tm_requeue_argtypes[1] = {INT8OID};

Datum
taskmill_requeue_from_dlq(PG_FUNCTION_ARGS)
{
	int64		task_id = tm_arg_task_id(fcinfo, 0);
	Datum		values[1] = {Int64GetDatum(task_id)};
	MemoryContext caller = CurrentMemoryContext;
	TmOwnerScope scope;
	char	   *queue_name;
	bool		isnull;
	bool		in_dlq;

	tm_owner_begin(&scope);
	tm_spi_connect();
	tm_spi_run(tm_plan(&lookup_plan, lookup_sql, 1, tm_requeue_argtypes), values, NULL, true, 1,
			   SPI_OK_SELECT, "task lookup");
	if (SPI_processed == 0)
		raise_missing_or_not_managed(task_id);
	queue_name = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	in_dlq = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	if (!tm_has_queue_right(tm_calling_user(), queue_name, strlen(queue_name), TM_RIGHT_MANAGE))
		raise_missing_or_not_managed(task_id);
	if (in_dlq)
	{
		tm_spi_run(tm_plan(&requeue_plan, tm_requeue_sql, 1, tm_requeue_argtypes), values, NULL, false, 0,
				   SPI_OK_UPDATE_RETURNING, "requeue_from_dlq");
		in_dlq = SPI_processed > 0;	/* a concurrent requeue may have been first */
	}
	if (!in_dlq)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("task %lld is not in the dead-letter queue", (long long) task_id)));
	/* SPI's memory goes at SPI_finish: copy the name into the caller's context. */
	queue_name = MemoryContextStrdup(caller, queue_name);
	SPI_finish();
	tm_notify_queue_if_waiting(queue_name);
	tm_owner_end(&scope);
	PG_RETURN_VOID();
}
