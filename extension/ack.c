/*
 * ack.c
 *		The end of a delivery: ack, ack_many, nack, extend_visibility and release (and
 *		the ack and nack halves of ack_dequeue). Each takes the delivery's lease, so only
 *		the worker that holds the current delivery can complete, fail, extend or give it
 *		back; anything else is "stale" and changes nothing.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/uuid.h"

#include "privileges.h"
#include "taskmill.h"


static SPIPlanPtr ack_plans[2];		/* [direct path] */
static SPIPlanPtr ack_many_plans[2];	/* [direct path] */
static SPIPlanPtr nack_plans[2];	/* [on a 0.1 table] */
static SPIPlanPtr extend_plan = NULL;
static SPIPlanPtr known_plan = NULL;
static SPIPlanPtr release_plan = NULL;

/* the columns the INSERT into task_results names (taskmill.h: TM_RESULT_COPIED) */
#define RESULT_COLUMNS TM_RESULT_COPIED_LIST "completed_at, result"

/*
 * Both return how many deliveries were current, and the (queue, group) of each acked
 * grouped task, whose group's next head is then woken (fifo.c).
 */
#define LEFT_GROUPS \
"SELECT pg_catalog.count(*)::int4," \
"       pg_catalog.array_agg(queue_name) FILTER (WHERE task_group_id IS NOT NULL)," \
"       pg_catalog.array_agg(task_group_id) FILTER (WHERE task_group_id IS NOT NULL)" \
" FROM d"

/*
 * The SQL path: the DELETE and the INSERT of the kept tasks' results in one statement.
 * Taken when task_results is not for the direct path (ack_results.c).
 */
const char *const tm_ack_sql =
"WITH d AS ("
"  DELETE FROM taskmill.tasks WHERE id = $1 AND lease = $2 AND dlq_at IS NULL RETURNING *"
"), r AS ("
"  INSERT INTO taskmill.task_results (" RESULT_COLUMNS ")"
"  SELECT " TM_RESULT_COPIED_LIST "pg_catalog.now(), $3"
"  FROM d WHERE NOT d.ephemeral"
")"
LEFT_GROUPS;

const char *const tm_ack_many_sql =
"WITH d AS ("
"  DELETE FROM taskmill.tasks t"
"  USING unnest($1::int8[], $2::uuid[], $3::jsonb[]) AS a(id, lease, result)"
"  WHERE t.id = a.id AND t.lease = a.lease AND t.dlq_at IS NULL"
"  RETURNING t.*, a.result AS a_result"
"), r AS ("
"  INSERT INTO taskmill.task_results (" RESULT_COLUMNS ")"
"  SELECT " TM_RESULT_COPIED_LIST "pg_catalog.now(), a_result"
"  FROM d WHERE NOT d.ephemeral"
")"
LEFT_GROUPS;

/*
 * The direct path: only the DELETE, returning what the result rows need (ack_results.c
 * reads them in this order: the TM_RESULT_COPIED columns, ephemeral, the result).
 */
#define TM_TASK_COLUMN_(c)	"t." #c ", "
#define ACKED_RETURNING		" RETURNING " TM_RESULT_COPIED(TM_TASK_COLUMN_) "t.ephemeral, "

const char *const tm_ack_delete_sql =
"DELETE FROM taskmill.tasks t WHERE t.id = $1 AND t.lease = $2 AND t.dlq_at IS NULL"
ACKED_RETURNING "$3";

const char *const tm_ack_many_delete_sql =
"DELETE FROM taskmill.tasks t"
" USING unnest($1::int8[], $2::uuid[], $3::jsonb[]) AS a(id, lease, result)"
" WHERE t.id = a.id AND t.lease = a.lease AND t.dlq_at IS NULL"
ACKED_RETURNING "a.result";

/*
 * Backoff 1 s * 2^(attempts-1): 1 s, 2 s, 4 s ... capped at one hour (the exponent is
 * clamped first so a large attempts count cannot overflow the interval). A retry later
 * than now waits outside the dequeue index (waiting). Returns whether the task went to
 * the DLQ, and its queue and group (a dead-lettered head wakes its group's next one).
 */
#define RETRY_AT \
"(pg_catalog.now() + COALESCE($4, LEAST(" \
"   interval '1 second' * pg_catalog.power(2, LEAST(GREATEST(attempts - 1, 0), 16))," \
"   interval '1 hour')))"

/* RETRY_AT is after now() unless $4 is zero or less (the default backoff is >= 1 s) */
#define NACK_WAITING \
",  waiting = attempts < max_attempts AND ($4 IS NULL OR $4 > interval '0')," \
"   parked_until = NULL"
#define NACK_SQL(waiting) \
"UPDATE taskmill.tasks SET" \
"  lease = NULL," \
"  last_error = $3," \
"  dlq_at = CASE WHEN attempts >= max_attempts THEN pg_catalog.now() END," \
"  dlq_reason = CASE WHEN attempts >= max_attempts" \
"                    THEN COALESCE($3, 'max attempts reached') END," \
"  visible_at = CASE WHEN attempts >= max_attempts THEN visible_at ELSE " RETRY_AT " END" \
waiting \
" WHERE id = $1 AND lease = $2 AND dlq_at IS NULL" \
" RETURNING dlq_at IS NOT NULL, queue_name, task_group_id"

const char *const tm_nack_sql = NACK_SQL(NACK_WAITING);
/* on a 0.1 table */
static const char *const nack_legacy_sql = NACK_SQL("");

const char *const tm_extend_sql =
"UPDATE taskmill.tasks SET visible_at = pg_catalog.now() + $3"
" WHERE id = $1 AND lease = $2 AND dlq_at IS NULL";

/* Un-claims: the attempt the claim counted is given back too. */
const char *const tm_release_sql =
"WITH u AS ("
"  UPDATE taskmill.tasks t SET"
"    lease = NULL,"
"    visible_at = pg_catalog.now(),"
"    attempts = GREATEST(t.attempts - 1, 0)"
"  FROM unnest($1::int8[], $2::uuid[]) AS a(id, lease)"
"  WHERE t.id = a.id AND t.lease = a.lease AND t.dlq_at IS NULL"
"  RETURNING 1"
")"
"SELECT pg_catalog.count(*)::int4 FROM u";

static const char *known_sql =
"SELECT EXISTS (SELECT 1 FROM taskmill.tasks WHERE id = $1)"
"    OR EXISTS (SELECT 1 FROM taskmill.task_results WHERE id = $1)";

/*
 * After a lease did not match: a task that still exists, or that was completed (by
 * whoever held the later delivery), makes the call stale; a task id never seen is an
 * error. Runs only on the failure path, inside the caller's SPI connection.
 */
static void
check_task_known(int64 task_id)
{
	static const Oid argtypes[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(task_id)};
	bool		isnull;
	int			rc;

	rc = SPI_execute_plan(tm_plan(&known_plan, known_sql, 1, argtypes), values, NULL, true, 1);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "taskmill: task lookup failed: %s", SPI_result_code_string(rc));
	if (!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)))
		tm_raise_task_not_found(task_id);
}

/* Run a saved plan (inside SPI) whose one row is a count, and return the count. */
static int32
run_count(SPIPlanPtr plan, Datum *values, const char *nulls, const char *what)
{
	bool		isnull;
	int			rc = SPI_execute_plan(plan, values, nulls, false, 0);

	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "taskmill: %s failed: %s", what, SPI_result_code_string(rc));
	return DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * Run an ack plan (LEFT_GROUPS row: count, queues, groups), wake the next heads of the
 * groups it emptied the head of, and return the count.
 */
static int32
run_acks(SPIPlanPtr plan, Datum *values, const char *nulls, const char *what)
{
	int32		done = run_count(plan, values, nulls, what);
	bool		no_groups;
	Datum		queues = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &no_groups);

	if (!no_groups)
	{
		bool		isnull;
		Datum		groups = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull);

		tm_wake_group_heads(queues, groups);
	}
	return done;
}

/*
 * Ack through the direct path (sqls[1]: the DELETE; ack_results.c writes the results)
 * when task_results allows it, else the SQL statement (sqls[0]). Parameters: ids,
 * leases, results. Returns how many deliveries were current.
 */
static int32
ack_statement(SPIPlanPtr *plans, const char *const sqls[2], const Oid *argtypes,
			  Datum *values, const char *nulls, const char *what)
{
	TmRelInsert ins;

	if (!tm_results_open(&ins))
		return run_acks(tm_plan(&plans[0], sqls[0], 3, argtypes), values, nulls, what);
	tm_spi_run(tm_plan(&plans[1], sqls[1], 3, argtypes), values, nulls, false, 0,
			   SPI_OK_DELETE_RETURNING, what);
	return tm_results_write_acked(&ins, SPI_tuptable, (int) SPI_processed);
}

/*
 * taskmill.ack(task_id, lease, result jsonb DEFAULT NULL) RETURNS boolean
 */
const Oid	tm_ack_argtypes[3] = {INT8OID, UUIDOID, JSONBOID};
const Oid	tm_ack_many_argtypes[3] = {INT8ARRAYOID, UUIDARRAYOID, JSONBARRAYOID};
const Oid	tm_nack_argtypes[4] = {INT8OID, UUIDOID, TEXTOID, INTERVALOID};
const Oid	tm_extend_argtypes[3] = {INT8OID, UUIDOID, INTERVALOID};
const Oid	tm_release_argtypes[2] = {INT8ARRAYOID, UUIDARRAYOID};

Datum
tm_body_ack(PG_FUNCTION_ARGS)
{
	int64		task_id = tm_arg_task_id(fcinfo, 0);
	Datum		values[3];
	char		nulls[3] = {' ', ' ', ' '};
	int32		done;

	tm_require_arg(fcinfo, 1, "lease");
	if (!PG_ARGISNULL(2))
		tm_check_result_size(PG_GETARG_DATUM(2));
	values[0] = Int64GetDatum(task_id);
	values[1] = PG_GETARG_DATUM(1);
	values[2] = PG_ARGISNULL(2) ? (nulls[2] = 'n', (Datum) 0) : PG_GETARG_DATUM(2);

	tm_spi_connect();
	done = ack_statement(ack_plans, (const char *const[2]) {tm_ack_sql, tm_ack_delete_sql},
						 tm_ack_argtypes, values, nulls, "ack");
	if (done == 0)
		check_task_known(task_id);
	SPI_finish();
	PG_RETURN_BOOL(done > 0);
}

/* Number of elements of a one-dimensional array argument; an error for more dimensions. */
static int
array_length_checked(ArrayType *a, const char *what)
{
	if (ARR_NDIM(a) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a one-dimensional array", what)));
	return ArrayGetNItems(ARR_NDIM(a), ARR_DIMS(a));
}

/*
 * The paired task_ids / leases arguments (argno, argno + 1) and, when results is not
 * NULL, the results argument (argno + 2): each one-dimensional and of one length, which
 * is returned. NULL task_ids or leases count as empty (array_agg() over no deliveries
 * gives NULL): 0, and the arrays are NULL. *results is NULL when that argument is.
 */
int
tm_deliveries_arg(FunctionCallInfo fcinfo, int argno, ArrayType **ids, ArrayType **leases,
				  ArrayType **results)
{
	int			n;

	*ids = *leases = NULL;
	if (results)
		*results = NULL;
	if (PG_ARGISNULL(argno) || PG_ARGISNULL(argno + 1))
		return 0;
	*ids = PG_GETARG_ARRAYTYPE_P(argno);
	*leases = PG_GETARG_ARRAYTYPE_P(argno + 1);
	n = array_length_checked(*ids, "task_ids");
	tm_check_same_length("task_ids", n, "leases", array_length_checked(*leases, "leases"));
	if (results && !PG_ARGISNULL(argno + 2))
	{
		*results = PG_GETARG_ARRAYTYPE_P(argno + 2);
		tm_check_same_length("task_ids", n, "results", array_length_checked(*results, "results"));
		tm_check_result_array(*results);
	}
	return n;
}

/*
 * taskmill.ack_many(task_ids bigint[], leases uuid[], results jsonb[] DEFAULT NULL)
 * RETURNS integer: acks every (task_ids[i], leases[i]) whose lease is current, in one
 * statement, and returns how many. Stale and unknown ones are skipped; NULL arrays
 * count as empty.
 */
Datum
tm_body_ack_many(PG_FUNCTION_ARGS)
{
	ArrayType  *ids;
	ArrayType  *leases;
	ArrayType  *results;
	int			n = tm_deliveries_arg(fcinfo, 0, &ids, &leases, &results);
	int32		done;

	if (n == 0)
		PG_RETURN_INT32(0);

	tm_spi_connect();
	done = tm_ack_deliveries(PointerGetDatum(ids), PointerGetDatum(leases),
							 PointerGetDatum(results), results == NULL);
	SPI_finish();
	PG_RETURN_INT32(done);
}

/*
 * ack_many's statement (inside SPI): ids int8[], leases uuid[], results jsonb[] or
 * NULL, of one length (tm_deliveries_arg). Returns how many leases were current.
 */
int32
tm_ack_deliveries(Datum ids, Datum leases, Datum results, bool results_null)
{
	Datum		values[3] = {ids, leases, results};
	char		nulls[3] = {' ', ' ', results_null ? 'n' : ' '};

	return ack_statement(ack_many_plans,
						 (const char *const[2]) {tm_ack_many_sql, tm_ack_many_delete_sql},
						 tm_ack_many_argtypes, values, nulls, "ack_many");
}

/*
 * nack's statement (inside SPI): 'retry', 'dlq' or 'stale' (a lease that is not
 * current; an unknown task id is an error). error and retry_delay may be NULL.
 */
static const char *
nack_delivery(Datum id, Datum lease, Datum error, bool error_null, Datum delay, bool delay_null)
{
	Datum		values[4] = {id, lease, error, delay};
	char		nulls[4] = {' ', ' ', error_null ? 'n' : ' ', delay_null ? 'n' : ' '};
	bool		dlq;
	bool		isnull;
	bool		no_group;
	Datum		group;

	bool		legacy = !tm_tasks_have_waiting();
	SPIPlanPtr	plan = tm_plan(&nack_plans[legacy], legacy ? nack_legacy_sql : tm_nack_sql, 4, tm_nack_argtypes);

	tm_spi_run(plan, values, nulls, false, 0, SPI_OK_UPDATE_RETURNING, "nack");
	if (SPI_processed == 0)
	{
		check_task_known(DatumGetInt64(id));
		return "stale";
	}
	dlq = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	group = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &no_group);
	if (dlq && !no_group)
	{
		TmGroups	left;

		tm_groups_init(&left);
		tm_groups_add(&left, SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull),
					  group);
		tm_groups_wake(&left);
	}
	return dlq ? "dlq" : "retry";
}

/* ack_dequeue's nack of one failed delivery (default backoff) */
void
tm_nack_delivery(Datum id, Datum lease, Datum error, bool error_null)
{
	(void) nack_delivery(id, lease, error, error_null, (Datum) 0, true);
}

/*
 * taskmill.nack(task_id, lease, error text, retry_delay interval DEFAULT NULL)
 * RETURNS text: 'retry', 'dlq' or 'stale'.
 */
Datum
tm_body_nack(PG_FUNCTION_ARGS)
{
	int64		task_id = tm_arg_task_id(fcinfo, 0);
	const char *outcome;

	tm_require_arg(fcinfo, 1, "lease");
	if (!PG_ARGISNULL(3))
		tm_check_interval_not_negative(PG_GETARG_DATUM(3), "retry delay");
	if (!PG_ARGISNULL(2))
		tm_check_error_size(PG_GETARG_DATUM(2));

	tm_spi_connect();
	outcome = nack_delivery(Int64GetDatum(task_id), PG_GETARG_DATUM(1),
							PG_ARGISNULL(2) ? (Datum) 0 : PG_GETARG_DATUM(2), PG_ARGISNULL(2),
							PG_ARGISNULL(3) ? (Datum) 0 : PG_GETARG_DATUM(3), PG_ARGISNULL(3));
	SPI_finish();
	PG_RETURN_TEXT_P(cstring_to_text(outcome));
}

/*
 * taskmill.extend_visibility(task_id, lease, visibility_timeout interval)
 * RETURNS boolean: the delivery stays invisible until now() + visibility_timeout;
 * false when the lease is stale.
 */
Datum
tm_body_extend_visibility(PG_FUNCTION_ARGS)
{
	int64		task_id = tm_arg_task_id(fcinfo, 0);
	Datum		values[3];
	bool		done;

	tm_require_arg(fcinfo, 1, "lease");
	tm_require_arg(fcinfo, 2, "visibility timeout");
	tm_check_interval_not_negative(PG_GETARG_DATUM(2), "visibility timeout");
	values[0] = Int64GetDatum(task_id);
	values[1] = PG_GETARG_DATUM(1);
	values[2] = PG_GETARG_DATUM(2);

	tm_spi_connect();
	tm_spi_run(tm_plan(&extend_plan, tm_extend_sql, 3, tm_extend_argtypes), values, NULL, false, 0,
			   SPI_OK_UPDATE, "extend_visibility");
	done = SPI_processed > 0;
	if (!done)
		check_task_known(task_id);
	SPI_finish();
	PG_RETURN_BOOL(done);
}

/*
 * taskmill.release(task_ids bigint[], leases uuid[]) RETURNS integer: gives back every
 * (task_ids[i], leases[i]) delivery whose lease is current and that no handler started:
 * visible again at once, and the attempt its claim counted is not burnt. Returns how
 * many; stale and unknown ones are skipped; NULL arrays count as empty.
 */
Datum
tm_body_release(PG_FUNCTION_ARGS)
{
	ArrayType  *ids;
	ArrayType  *leases;
	int			n = tm_deliveries_arg(fcinfo, 0, &ids, &leases, NULL);
	Datum		values[2];
	int32		done;

	if (n == 0)
		PG_RETURN_INT32(0);

	values[0] = PointerGetDatum(ids);
	values[1] = PointerGetDatum(leases);

	tm_spi_connect();
	done = run_count(tm_plan(&release_plan, tm_release_sql, 2, tm_release_argtypes), values, NULL, "release");
	SPI_finish();
	PG_RETURN_INT32(done);
}
