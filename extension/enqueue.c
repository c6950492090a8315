/*
 * enqueue.c
 *		taskmill.enqueue, enqueue_batch and enqueue_arrays, and tm_enqueue_tasks, the one
 *		way in for new tasks (the schedules use it too): read and check the fields
 *		(task_fields.c), insert (directly, or with one saved plan: a batch is one
 *		set-based INSERT), and NOTIFY the queue's workers.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "commands/sequence.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "privileges.h"
#include "taskmill.h"

/*
 * Each INSERT (tm_enqueue_sql & co., built from tm_fields: task_fields.c) comes in two
 * forms. With a caller's idempotency key, ON CONFLICT DO NOTHING turns a duplicate
 * idempotency key into "no row" instead of an aborted statement, so we can raise 23505
 * with a message naming the key; it also waits for a concurrent insert of the same key
 * and decides on its outcome.
 *
 * Without one (the common case) the task's key is generated from its id
 * ("taskmill:<id>", see generated_key): unique because the id is, and outside the
 * unique index (its predicate leaves generated keys out), so neither this INSERT nor
 * any later non-HOT update of the row writes a unique-index entry for it. The id is
 * drawn here, before the INSERT, so that the key can be made from it.
 */

/*
 * Wake the queue's workers now: at commit, NOTIFY the queue's own channel ("taskmill_"
 * and a keyed hash of its name, tm_queue_channel in secret.c; no payload).
 * PostgreSQL folds identical notifications of one transaction into one, so a
 * transaction that enqueues many tasks into a queue sends one notification for it.
 *
 * The price: PostgreSQL serialises the commits of all notifying transactions (one
 * lock held from pre-commit until the commit record is flushed), so concurrent
 * single-task producers lose group commit. Hence the default, notify => NULL
 * (tm_notify_queue_if_waiting, notify.c): notify only when an idle worker waits.
 */
void
tm_notify_queue(const char *queue_name)
{
	Async_Notify(tm_queue_channel(queue_name, strlen(queue_name)), NULL);
}

/* The notify argument (argno) of enqueue/enqueue_batch: NULL auto, true always, false never. */
static void
tm_enqueue_notify(const char *queue_name, FunctionCallInfo fcinfo, int argno)
{
	if (PG_NARGS() <= argno || PG_ARGISNULL(argno))
		tm_notify_queue_if_waiting(queue_name);
	else if (PG_GETARG_BOOL(argno))
		tm_notify_queue(queue_name);
}

/* taskmill.tasks_id_seq, the sequence behind the id column */
static Oid
task_id_sequence(void)
{
	Oid			seq = get_relname_relid("tasks_id_seq", get_namespace_oid("taskmill", false));

	if (!OidIsValid(seq))
		elog(ERROR, "taskmill: sequence taskmill.tasks_id_seq is missing");
	return seq;
}

/*
 * The next task id, as the column's identity default would draw it (no privilege on
 * the sequence needed beyond the INSERT's).
 */
static int64
next_task_id(Oid seq)
{
	return nextval_internal(seq, false);
}

/*
 * The key of a task enqueued without one: "taskmill:<id>". Callers cannot pass keys
 * with that prefix (tm_check_idempotency_key; the table's CHECK for direct INSERTs),
 * so a generated key never meets a caller's, and two generated keys never meet
 * because ids do not.
 */
static Datum
generated_key(int64 id)
{
	char		buf[sizeof(TM_GENERATED_KEY_PREFIX) + MAXINT8LEN];

	snprintf(buf, sizeof(buf), TM_GENERATED_KEY_PREFIX INT64_FORMAT, id);
	return CStringGetTextDatum(buf);
}

static void
raise_duplicate_key(const char *key, const char *queue_name)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNIQUE_VIOLATION),
			 errmsg("task with idempotency key \"%s\" already exists in queue \"%s\"",
					tm_quote(key, strlen(key)), queue_name),
			 errdetail("Idempotency keys are unique among a queue's tasks outside the dead-letter queue.")));
}

/*
 * The task fields of enqueue's and enqueue_arrays' arguments 1 .. 10 (argument 0 is
 * the queue name, 11 notify): both take them in this order, one value or one array each.
 */
static const TmField arg_fields[] = {
	TF_OPERATION_ID, TF_PAYLOAD, TF_PRIORITY, TF_MAX_ATTEMPTS, TF_SCHEDULED_AT,
	TF_EXPIRES_AT, TF_TASK_GROUP_ID, TF_IDEMPOTENCY_KEY, TF_EPHEMERAL, TF_META
};

#define NOTIFY_ARGNO ((int) lengthof(arg_fields) + 1)

/* ---- the one way in ---- */

/* A generated key ("taskmill:<id>"), as opposed to a caller's (which cannot look so). */
static bool
is_generated_key(Datum key)
{
	text	   *t = DatumGetTextPP(key);
	int			plen = strlen(TM_GENERATED_KEY_PREFIX);

	return VARSIZE_ANY_EXHDR(t) >= plen &&
		memcmp(VARDATA_ANY(t), TM_GENERATED_KEY_PREFIX, plen) == 0;
}

typedef struct KeyRef
{
	text	   *key;
	int			task;
} KeyRef;

static int
keyref_cmp(const void *a, const void *b)
{
	const KeyRef *ka = (const KeyRef *) a;
	const KeyRef *kb = (const KeyRef *) b;
	int			la = VARSIZE_ANY_EXHDR(ka->key);
	int			lb = VARSIZE_ANY_EXHDR(kb->key);
	int			c = memcmp(VARDATA_ANY(ka->key), VARDATA_ANY(kb->key), Min(la, lb));

	if (c == 0)
		c = la - lb;
	return c != 0 ? c : ka->task - kb->task;
}

/* Two tasks of one call with the same key fail it before any insert. */
static void
check_duplicate_keys(const TmNewTask *tasks, int n)
{
	KeyRef	   *refs;
	int			m = 0;

	if (n < 2)
		return;
	refs = palloc(sizeof(KeyRef) * n);
	for (int i = 0; i < n; i++)
		if (!tasks[i].isnull[TF_IDEMPOTENCY_KEY])
		{
			refs[m].key = DatumGetTextPP(tasks[i].values[TF_IDEMPOTENCY_KEY]);
			refs[m].task = i + 1;
			m++;
		}
	qsort(refs, m, sizeof(KeyRef), keyref_cmp);
	for (int i = 1; i < m; i++)
		if (keyref_cmp(&(KeyRef) {refs[i - 1].key, 0}, &(KeyRef) {refs[i].key, 0}) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNIQUE_VIOLATION),
					 errmsg("duplicate idempotency key \"%s\" in batch",
							tm_quote(VARDATA_ANY(refs[i].key), VARSIZE_ANY_EXHDR(refs[i].key))),
					 errdetail("Tasks %d and %d of the batch have the same idempotency key.",
							   refs[i - 1].task, refs[i].task)));
	pfree(refs);
}

#define N_INSERT_PARAMS TM_INSERT_PARAMS

/* The INSERTs' parameter types: one value per field, or (batch) one array per field. */
void
tm_enqueue_argtypes(Oid *argtypes, bool batch)
{
	argtypes[0] = TEXTOID;
	for (int f = 0; f < TF_EXPIRES_IN; f++)
		argtypes[f + 1] = batch ? get_array_type(tm_fields[f].type) : tm_fields[f].type;
	argtypes[N_INSERT_PARAMS - 1] = batch ? INT8ARRAYOID : INT8OID;
}

/*
 * Run an enqueue INSERT (inside SPI) through its saved plan: one task's or a batch's,
 * with ON CONFLICT for callers' keys (keyed) or plain, in the 0.1 form (legacy) where
 * taskmill.tasks has no waiting column.
 */
static void
run_insert(bool batch, bool keyed, Datum *values, const char *nulls)
{
	static SPIPlanPtr plans[2][2][2];	/* [batch][keyed][legacy] */
	static const char **const sqls[2][2] = {
		{tm_enqueue_plain_sql, tm_enqueue_sql},
		{tm_enqueue_batch_plain_sql, tm_enqueue_batch_sql},
	};
	bool		legacy = !tm_tasks_have_waiting();
	Oid			argtypes[N_INSERT_PARAMS];

	tm_enqueue_argtypes(argtypes, batch);
	tm_spi_run(tm_plan(&plans[batch][keyed][legacy], sqls[batch][keyed][legacy],
					   N_INSERT_PARAMS, argtypes),
			   values, nulls, false, batch ? 0 : 1,
			   batch && keyed ? SPI_OK_INSERT_RETURNING : SPI_OK_INSERT,
			   batch ? "enqueue_batch" : "enqueue");
}

/* One task through the SQL INSERT (a caller's key needs its ON CONFLICT). */
static void
insert_one_sql(text *queue, const TmNewTask *t)
{
	Datum		values[N_INSERT_PARAMS];
	char		nulls[N_INSERT_PARAMS];
	bool		with_key = !is_generated_key(t->values[TF_IDEMPOTENCY_KEY]);

	values[0] = PointerGetDatum(queue);
	nulls[0] = ' ';
	for (int f = 0; f < TF_EXPIRES_IN; f++)
	{
		values[f + 1] = t->values[f];
		nulls[f + 1] = t->isnull[f] ? 'n' : ' ';
	}
	values[N_INSERT_PARAMS - 1] = Int64GetDatum(t->id);
	nulls[N_INSERT_PARAMS - 1] = ' ';

	tm_spi_connect();
	run_insert(false, with_key, values, nulls);
	if (SPI_processed == 0)
		raise_duplicate_key(TextDatumGetCString(t->values[TF_IDEMPOTENCY_KEY]),
							text_to_cstring(queue));
	SPI_finish();
}

static Datum
make_array(Datum *values, bool *nulls, int n, Oid elmtype)
{
	int16		typlen;
	bool		typbyval;
	char		typalign;
	int			dims[1] = {n};
	int			lbs[1] = {1};

	get_typlenbyvalalign(elmtype, &typlen, &typbyval, &typalign);
	return PointerGetDatum(construct_md_array(values, nulls, 1, dims, lbs, elmtype,
											  typlen, typbyval, typalign));
}

static int
str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/*
 * After the batch INSERT went in short (inserted of n, got: the keys that did), name
 * the first task whose caller's key a queued task has.
 */
static void
raise_first_duplicate(text *queue, const TmNewTask *tasks, int n, char **got, uint64 inserted)
{
	qsort(got, inserted, sizeof(char *), str_cmp);
	for (int i = 0; i < n; i++)
	{
		char	   *key = TextDatumGetCString(tasks[i].values[TF_IDEMPOTENCY_KEY]);

		if (bsearch(&key, got, inserted, sizeof(char *), str_cmp) == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_UNIQUE_VIOLATION),
					 errmsg("task with idempotency key \"%s\" already exists in queue \"%s\"",
							tm_quote(key, strlen(key)), text_to_cstring(queue)),
					 errdetail("Idempotency keys are unique among a queue's tasks outside the dead-letter queue."),
					 errcontext("task %d of the batch", i + 1)));
	}
	elog(ERROR, "taskmill: enqueue_batch inserted %llu of %d tasks",
		 (unsigned long long) inserted, n);
}

/* Many tasks through the SQL INSERT ... SELECT FROM unnest(one array per field). */
static void
insert_batch_sql(text *queue, const TmNewTask *tasks, int n, bool any_key)
{
	Datum		values[N_INSERT_PARAMS];
	Datum	   *col = palloc(sizeof(Datum) * n);
	bool	   *colnull = palloc(sizeof(bool) * n);

	values[0] = PointerGetDatum(queue);
	for (int f = 0; f < TF_EXPIRES_IN; f++)
	{
		for (int i = 0; i < n; i++)
		{
			col[i] = tasks[i].values[f];
			colnull[i] = tasks[i].isnull[f];
		}
		values[f + 1] = make_array(col, colnull, n, tm_fields[f].type);
	}
	for (int i = 0; i < n; i++)
		col[i] = Int64GetDatum(tasks[i].id);
	values[N_INSERT_PARAMS - 1] = make_array(col, NULL, n, INT8OID);

	tm_spi_connect();
	run_insert(true, any_key, values, NULL);
	if (SPI_processed < (uint64) n)
	{
		char	  **got = palloc(sizeof(char *) * Max(SPI_processed, 1));

		for (uint64 i = 0; i < SPI_processed; i++)
			got[i] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		raise_first_duplicate(queue, tasks, n, got, SPI_processed);
	}
	SPI_finish();
}

/*
 * The one way in for new tasks: tasks are set and checked (tm_task_check), n >= 1.
 * Give the fields left out their defaults, draw the ids, generate the missing keys and
 * insert them all (or fail naming the first duplicate key). Returns the ids. Per-queue
 * rights are the caller's to check; the INSERT runs with the current user's rights.
 */
int64 *
tm_enqueue_tasks(text *queue, TmNewTask *tasks, int n)
{
	int64	   *ids = palloc(sizeof(int64) * n);
	Oid			seq = task_id_sequence();
	bool		any_key = false;

	check_duplicate_keys(tasks, n);
	tm_task_fill_defaults(tasks, n);
	for (int i = 0; i < n; i++)
	{
		ids[i] = tasks[i].id = next_task_id(seq);
		if (!tasks[i].isnull[TF_IDEMPOTENCY_KEY])
			any_key = true;
		else
		{
			tasks[i].values[TF_IDEMPOTENCY_KEY] = generated_key(ids[i]);
			tasks[i].isnull[TF_IDEMPOTENCY_KEY] = false;
		}
	}

	if (any_key || !tm_insert_tasks_direct(queue, tasks, n))
	{
		if (n == 1)
			insert_one_sql(queue, &tasks[0]);
		else
			insert_batch_sql(queue, tasks, n, any_key);
	}
	return ids;
}

/* ---- the SQL functions ---- */

/*
 * taskmill.enqueue(queue_name, operation_id, payload, priority, max_attempts,
 *					scheduled_at, expires_at, task_group_id, idempotency_key,
 *					ephemeral, meta, notify) RETURNS bigint
 *
 * NULL for an option means its default.
 */
Datum
tm_body_enqueue(PG_FUNCTION_ARGS)
{
	text	   *queue = tm_arg_name(fcinfo, 0, "queue name");
	TmNewTask	t;
	int64	   *ids;

	tm_task_init(&t);
	for (int a = 0; a < (int) lengthof(arg_fields); a++)
		tm_task_set(&t, arg_fields[a], PG_ARGISNULL(a + 1) ? (Datum) 0 : PG_GETARG_DATUM(a + 1),
					PG_ARGISNULL(a + 1));
	tm_task_check(&t);
	ids = tm_enqueue_tasks(queue, &t, 1);
	tm_enqueue_notify(text_to_cstring(queue), fcinfo, NOTIFY_ARGNO);
	PG_RETURN_INT64(ids[0]);
}

typedef struct BatchErrorContext
{
	int			task;			/* 1-based */
} BatchErrorContext;

static void
batch_error_callback(void *arg)
{
	BatchErrorContext *ctx = (BatchErrorContext *) arg;

	if (ctx->task > 0)
		errcontext("task %d of the batch", ctx->task);
}

/* Name the batch's current task (ectx->task) in the context of errors raised from here. */
static void
push_batch_error_context(ErrorContextCallback *cb, BatchErrorContext *ectx)
{
	cb->callback = batch_error_callback;
	cb->arg = ectx;
	cb->previous = error_context_stack;
	error_context_stack = cb;
}

/* The common end of both batch forms: insert the checked tasks, notify, return the ids. */
static Datum
finish_batch(FunctionCallInfo fcinfo, text *queue, TmNewTask *tasks, int n, int notify_argno)
{
	int64	   *ids = tm_enqueue_tasks(queue, tasks, n);
	Datum	   *d = palloc(sizeof(Datum) * n);

	for (int i = 0; i < n; i++)
		d[i] = Int64GetDatum(ids[i]);
	tm_enqueue_notify(text_to_cstring(queue), fcinfo, notify_argno);
	PG_RETURN_ARRAYTYPE_P(construct_array(d, n, INT8OID, sizeof(int64),
										  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/*
 * taskmill.enqueue_batch(queue_name, tasks jsonb, notify) RETURNS bigint[]
 *
 * All tasks are read and checked first, then inserted together (one INSERT ... SELECT
 * FROM unnest(...) on the SQL path), so the cost per task is close to a COPY's.
 */
Datum
tm_body_enqueue_batch(PG_FUNCTION_ARGS)
{
	text	   *queue = tm_arg_name(fcinfo, 0, "queue name");
	Jsonb	   *json;
	TmNewTask  *tasks;
	int			n;
	BatchErrorContext ectx = {0};
	ErrorContextCallback errcb;

	tm_require_arg(fcinfo, 1, "tasks");
	json = PG_GETARG_JSONB_P(1);
	if (!JB_ROOT_IS_ARRAY(json) || JB_ROOT_IS_SCALAR(json))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("tasks must be a JSON array of task objects"),
				 errdetail("The value given is a JSON %s.",
						   JB_ROOT_IS_OBJECT(json) ? "object" : "scalar")));
	n = JB_ROOT_COUNT(json);
	tm_check_count("tasks", n, tm_max_enqueue_batch, "taskmill.max_enqueue_batch");
	if (n == 0)
		PG_RETURN_ARRAYTYPE_P(construct_empty_array(INT8OID));

	tasks = palloc(sizeof(TmNewTask) * n);
	push_batch_error_context(&errcb, &ectx);
	for (int i = 0; i < n; i++)
	{
		JsonbValue *el = getIthJsonbValueFromContainer(&json->root, i);

		ectx.task = i + 1;
		if (el->type != jbvBinary || !JsonContainerIsObject(el->val.binary.data))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("each task of a batch must be a JSON object"),
					 errdetail("The task given is a JSON %s.",
							   tm_json_type_name(el->type, el->type == jbvBinary))));
		tm_task_init(&tasks[i]);
		tm_task_read_json(&tasks[i], el->val.binary.data, TF_COLUMNS, "task");
		tm_task_check(&tasks[i]);
	}
	error_context_stack = errcb.previous;
	return finish_batch(fcinfo, queue, tasks, n, 2);
}

/*
 * Array argument argno of enqueue_arrays, deconstructed; false if it is NULL (every
 * task takes the default). Its length must be n, the number of operation ids; it is
 * checked before the array is taken apart.
 */
static bool
get_column_arg(FunctionCallInfo fcinfo, int argno, TmField f, int n,
			   Datum **values, bool **nulls)
{
	const char *name = tm_fields[f].array_arg;
	ArrayType  *a;
	int			count;
	int16		typlen;
	bool		typbyval;
	char		typalign;

	if (PG_ARGISNULL(argno))
		return false;
	a = PG_GETARG_ARRAYTYPE_P(argno);
	if (ARR_NDIM(a) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a one-dimensional array", name)));
	count = ArrayGetNItems(ARR_NDIM(a), ARR_DIMS(a));
	if (count != n)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s has %d elements, operation_ids has %d", name, count, n),
				 errhint("Each array must have one element per task, or be NULL.")));
	get_typlenbyvalalign(tm_fields[f].type, &typlen, &typbyval, &typalign);
	deconstruct_array(a, tm_fields[f].type, typlen, typbyval, typalign, values, nulls, &count);
	return true;
}

/*
 * taskmill.enqueue_arrays(queue_name, operation_ids text[], payloads jsonb[],
 *		priorities int[], max_attempts int[], scheduled_ats timestamptz[],
 *		expires_ats timestamptz[], task_group_ids text[], idempotency_keys text[],
 *		ephemerals boolean[], metas jsonb[], notify boolean) RETURNS bigint[]
 *
 * enqueue_batch with one array per field instead of a JSON document: task i is
 * element i of each array. A NULL array or a NULL element means the default. Same
 * checks, errors and all-or-nothing insert as enqueue_batch.
 */
Datum
tm_body_enqueue_arrays(PG_FUNCTION_ARGS)
{
	text	   *queue = tm_arg_name(fcinfo, 0, "queue name");
	ArrayType  *ops;
	int			n;
	Datum	   *values[lengthof(arg_fields)];
	bool	   *nulls[lengthof(arg_fields)];
	TmNewTask  *tasks;
	BatchErrorContext ectx = {0};
	ErrorContextCallback errcb;

	tm_require_arg(fcinfo, 1, "operation ids");
	ops = PG_GETARG_ARRAYTYPE_P(1);
	if (ARR_NDIM(ops) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("operation_ids must be a one-dimensional array")));
	n = ArrayGetNItems(ARR_NDIM(ops), ARR_DIMS(ops));
	tm_check_count("tasks", n, tm_max_enqueue_batch, "taskmill.max_enqueue_batch");
	for (int a = 0; a < (int) lengthof(arg_fields); a++)
		if (!get_column_arg(fcinfo, a + 1, arg_fields[a], n, &values[a], &nulls[a]))
			values[a] = NULL;
	if (n == 0)
		PG_RETURN_ARRAYTYPE_P(construct_empty_array(INT8OID));

	tasks = palloc(sizeof(TmNewTask) * n);
	push_batch_error_context(&errcb, &ectx);
	for (int i = 0; i < n; i++)
	{
		ectx.task = i + 1;
		tm_task_init(&tasks[i]);
		for (int a = 0; a < (int) lengthof(arg_fields); a++)
			if (values[a] != NULL && !nulls[a][i])
				tm_task_set(&tasks[i], arg_fields[a], values[a][i], false);
		tm_task_check(&tasks[i]);
	}
	error_context_stack = errcb.previous;
	return finish_batch(fcinfo, queue, tasks, n, NOTIFY_ARGNO);
}
