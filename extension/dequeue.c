/*
 * dequeue.c
 *		taskmill.dequeue: claim up to batch_size available tasks in one statement
 *		(FOR UPDATE SKIP LOCKED), dead-lettering expired and exhausted ones met on
 *		the way.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "privileges.h"
#include "taskmill.h"

PG_FUNCTION_INFO_V1(taskmill_dequeue_sql);

static SPIPlanPtr dequeue_plan = NULL;		/* any task of the queue */
static SPIPlanPtr dequeue_group_plan = NULL;	/* only one task group ($4) */

/*
 * Candidates come from two small index scans, each locking at most batch_size rows:
 *   ready      tasks without a lease whose time has come (tasks_dequeue_idx, in
 *              delivery order; in-flight rows and the DLQ are not in that index);
 *   redeliver  deliveries whose visibility timeout passed (tasks_leased_idx, by the
 *              time they became visible: usually an empty range).
 * The best batch_size of both, by (priority DESC, id), are updated: delivered with a
 * fresh lease, or moved to the DLQ when expired, or when a timed-out delivery had
 * already used its last attempt. Rows locked but not picked are released at commit.
 * The update finds its rows by the ctids the locking scans returned, as one array
 * (a TID scan, not a primary-key descent per row; as an array rather than a join so
 * that no plan can turn it into a hash join over a sequential scan of the table, which
 * the planner chose for a join at ~10k rows). A row that another transaction updated after this
 * statement's snapshot was taken is locked in its new version, which the snapshot does
 * not see: the update skips it and the batch comes back one short, the task still
 * available; never a double delivery.
 */
/*
 * Whether a picked row goes to the DLQ instead of being delivered, from the row itself
 * (the version this statement locked): expired, or a timed-out delivery (lease set:
 * only redelivered rows have one) that used its last attempt.
 */
#define EXPIRED		"COALESCE(t.expires_at <= pg_catalog.now(), false)"
#define EXHAUSTED	"(t.lease IS NOT NULL AND t.attempts >= t.max_attempts)"
#define DEAD		"(" EXPIRED " OR " EXHAUSTED ")"

static const char *dequeue_sql_fmt =
"WITH ready AS MATERIALIZED ("
"  SELECT t.ctid AS tid, t.id, t.priority,"
"         COALESCE(t.expires_at <= pg_catalog.now(), false) AS expired,"
"         false AS exhausted"
"  FROM taskmill.tasks t"
"  WHERE t.queue_name = $1 AND t.dlq_at IS NULL AND t.lease IS NULL"
"    AND t.visible_at <= pg_catalog.now() %s AND %s"
"  ORDER BY t.priority DESC, t.id LIMIT $2 FOR UPDATE SKIP LOCKED"
"), redeliver AS MATERIALIZED ("
"  SELECT t.ctid AS tid, t.id, t.priority,"
"         COALESCE(t.expires_at <= pg_catalog.now(), false) AS expired,"
"         t.attempts >= t.max_attempts AS exhausted"
"  FROM taskmill.tasks t"
"  WHERE t.queue_name = $1 AND t.dlq_at IS NULL AND t.lease IS NOT NULL"
"    AND t.visible_at <= pg_catalog.now() %s AND %s"
"  ORDER BY t.visible_at LIMIT $2 FOR UPDATE SKIP LOCKED"
"), picked AS MATERIALIZED ("
"  SELECT c.* FROM (SELECT * FROM ready UNION ALL SELECT * FROM redeliver) c"
"  ORDER BY c.priority DESC, c.id LIMIT $2"
"), upd AS ("
"  UPDATE taskmill.tasks t SET"
"    attempts = CASE WHEN " DEAD " THEN t.attempts ELSE t.attempts + 1 END,"
"    visible_at = CASE WHEN " DEAD " THEN t.visible_at ELSE pg_catalog.now() + $3 END,"
"    lease = CASE WHEN " DEAD " THEN NULL ELSE pg_catalog.gen_random_uuid() END,"
"    dlq_at = CASE WHEN " DEAD " THEN pg_catalog.now() END,"
"    dlq_reason = CASE WHEN " EXPIRED " THEN 'expired'"
"                      WHEN " EXHAUSTED " THEN 'visibility timeout expired on the last attempt' END"
"  WHERE t.ctid = ANY (ARRAY(SELECT p.tid FROM picked p))"
"  RETURNING t.*"
")"
"SELECT * FROM upd ORDER BY priority DESC, id";

static char *
dequeue_sql(bool by_group)
{
	const char *filter = by_group ? "AND t.task_group_id = $4" : "";

	return psprintf(dequeue_sql_fmt, filter, tm_fifo_condition(), filter, tm_fifo_condition());
}

static SPIPlanPtr
get_dequeue_plan(bool by_group)
{
	static const Oid argtypes[4] = {TEXTOID, INT4OID, INTERVALOID, TEXTOID};
	char	   *sql;
	SPIPlanPtr	plan;

	if (by_group ? dequeue_group_plan != NULL : dequeue_plan != NULL)
		return by_group ? dequeue_group_plan : dequeue_plan;
	sql = dequeue_sql(by_group);
	plan = tm_plan(by_group ? &dequeue_group_plan : &dequeue_plan, sql, by_group ? 4 : 3, argtypes);
	pfree(sql);
	return plan;
}

/*
 * taskmill.dequeue(queue_name, batch_size DEFAULT 1, visibility_timeout DEFAULT '30 s',
 *					task_group_id DEFAULT NULL) RETURNS SETOF taskmill.tasks
 */
Datum
tm_body_dequeue(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	text	   *queue = tm_arg_name(fcinfo, 0, "queue name");
	int32		batch_size = PG_ARGISNULL(1) ? 1 : PG_GETARG_INT32(1);
	Datum		vt;
	bool		by_group = !PG_ARGISNULL(3);
	Datum		values[4];
	SPIPlanPtr	plan;
	int			dlq_attno = 0;
	int			delivered = 0;

	if (batch_size < 1 || batch_size > TM_BATCH_SIZE_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("batch_size %d is out of range", batch_size),
				 errdetail("batch_size must be between 1 and %d.", TM_BATCH_SIZE_MAX)));
	if (PG_ARGISNULL(2))
		vt = DirectFunctionCall3(interval_in, CStringGetDatum("30 seconds"),
								 ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
	else
	{
		vt = PG_GETARG_DATUM(2);
		tm_check_interval_not_negative(vt, "visibility timeout");
	}
	if (by_group)
	{
		text	   *g = PG_GETARG_TEXT_PP(3);

		tm_check_name(VARDATA_ANY(g), VARSIZE_ANY_EXHDR(g), "task group id");
		values[3] = PointerGetDatum(g);
	}
	values[0] = PointerGetDatum(queue);
	values[2] = vt;

	InitMaterializedSRF(fcinfo, 0);

	tm_spi_connect();
	plan = get_dequeue_plan(by_group);

	/*
	 * Usually one round. Rows moved to the DLQ take places of the batch, so while a
	 * round dead-letters some and the batch is not full, claim again for the rest.
	 */
	for (;;)
	{
		int			rc;
		int			dlqed = 0;
		uint64		i;

		values[1] = Int32GetDatum(batch_size - delivered);
		rc = tm_execute_nojit(plan, values, NULL, false, 0);
		if (rc != SPI_OK_SELECT)
			elog(ERROR, "taskmill: dequeue failed: %s", SPI_result_code_string(rc));
		if (dlq_attno == 0)
		{
			dlq_attno = SPI_fnumber(SPI_tuptable->tupdesc, "dlq_at");
			if (dlq_attno <= 0 || SPI_tuptable->tupdesc->natts != rsinfo->setDesc->natts)
				elog(ERROR, "taskmill: dequeue result does not match taskmill.tasks");
		}
		for (i = 0; i < SPI_processed; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			bool		isnull;

			(void) SPI_getbinval(tup, SPI_tuptable->tupdesc, dlq_attno, &isnull);
			if (isnull)
			{
				tuplestore_puttuple(rsinfo->setResult, tup);
				delivered++;
			}
			else
				dlqed++;
		}
		if (dlqed == 0 || delivered >= batch_size)
			break;
		CHECK_FOR_INTERRUPTS();
	}

	SPI_finish();
	return (Datum) 0;
}

/*
 * taskmill.dequeue_sql(by_group boolean DEFAULT false) RETURNS text
 *
 * The statement dequeue runs ($1 queue_name, $2 batch_size, $3 visibility_timeout and,
 * by_group, $4 task_group_id), so an operator or a test can PREPARE and EXPLAIN it.
 */
Datum
taskmill_dequeue_sql(PG_FUNCTION_ARGS)
{
	bool		by_group = PG_ARGISNULL(0) ? false : PG_GETARG_BOOL(0);

	PG_RETURN_TEXT_P(cstring_to_text(dequeue_sql(by_group)));
}

PG_FUNCTION_INFO_V1(taskmill_hot_statements);

/*
 * taskmill.hot_statements() RETURNS TABLE (name text, param_types text, statement text)
 *
 * Every statement the queue functions run as a saved plan, with the types of its
 * parameters, so that each can be PREPAREd and EXPLAINed (the benchmarks and the
 * regression tests check that none scans a table sequentially).
 */
Datum
taskmill_hot_statements(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	const char *const enqueue_types =
		"text, text, jsonb, jsonb, int4, int4, text, text, bool, timestamptz, timestamptz, int8";
	const char *const batch_types =
		"text, text[], jsonb[], jsonb[], int4[], int4[], text[], text[], bool[], timestamptz[], timestamptz[], int8[]";
	const struct
	{
		const char *name;
		const char *types;
		const char *sql;
	}			stmts[] = {
		{"enqueue", enqueue_types, tm_enqueue_plain_sql},
		{"enqueue_with_key", enqueue_types, tm_enqueue_sql},
		{"enqueue_batch", batch_types, tm_enqueue_batch_plain_sql},
		{"enqueue_batch_with_keys", batch_types, tm_enqueue_batch_sql},
		{"dequeue", "text, int4, interval", dequeue_sql(false)},
		{"dequeue_group", "text, int4, interval, text", dequeue_sql(true)},
		{"ack", "int8, uuid, jsonb", tm_ack_sql},
		{"ack_many", "int8[], uuid[], jsonb[]", tm_ack_many_sql},
		{"nack", "int8, uuid, text, interval", tm_nack_sql},
		{"extend_visibility", "int8, uuid, interval", tm_extend_sql},
		{"requeue_from_dlq", "int8", tm_requeue_sql},
		{"release", "int8[], uuid[]", tm_release_sql},
	};

	InitMaterializedSRF(fcinfo, 0);
	for (int i = 0; i < (int) lengthof(stmts); i++)
	{
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		values[0] = CStringGetTextDatum(stmts[i].name);
		values[1] = CStringGetTextDatum(stmts[i].types);
		values[2] = CStringGetTextDatum(stmts[i].sql);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
