/*
 * enqueue.c
 *		taskmill.enqueue and taskmill.enqueue_batch: validate, insert with one saved
 *		plan (a batch is one set-based INSERT), and NOTIFY the queue's workers.
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

#include "taskmill.h"

PG_FUNCTION_INFO_V1(taskmill_enqueue);
PG_FUNCTION_INFO_V1(taskmill_enqueue_batch);
PG_FUNCTION_INFO_V1(taskmill_enqueue_arrays);

static SPIPlanPtr enqueue_plan = NULL;
static SPIPlanPtr enqueue_plain_plan = NULL;
static SPIPlanPtr enqueue_batch_plan = NULL;
static SPIPlanPtr enqueue_batch_plain_plan = NULL;

/*
 * Each statement comes in two forms. With a caller's idempotency key, ON CONFLICT DO
 * NOTHING turns a duplicate idempotency key into "no row" instead of
 * an aborted statement, so we can raise 23505 with a message naming the key; it also
 * waits for a concurrent insert of the same key and decides on its outcome.
 *
 * Without one (the common case) the task's key is generated from its id
 * ("taskmill:<id>", see generated_key): unique because the id is, and outside the
 * unique index (its predicate leaves generated keys out), so neither this INSERT nor
 * any later non-HOT update of the row writes a unique-index entry for it. The id is
 * drawn here, before the INSERT, so that the key can be made from it.
 */
#define ON_CONFLICT \
" ON CONFLICT (queue_name, idempotency_key) WHERE " TM_KEY_INDEX_PREDICATE " DO NOTHING"

#define ENQUEUE_SQL \
"INSERT INTO taskmill.tasks (id, queue_name, operation_id, payload, meta, priority, max_attempts," \
"  task_group_id, idempotency_key, ephemeral, scheduled_at, visible_at, expires_at)" \
" VALUES ($12, $1, $2, $3, COALESCE($4, '{}'::jsonb), $5, $6, $7, $8, $9, $10, $10, $11)"

const char *const tm_enqueue_sql = ENQUEUE_SQL ON_CONFLICT;
const char *const tm_enqueue_plain_sql = ENQUEUE_SQL;

/* unnest walks the arrays in order, so ids (drawn in batch order) go in in order */
#define ENQUEUE_BATCH_SQL \
"INSERT INTO taskmill.tasks (id, queue_name, operation_id, payload, meta, priority, max_attempts," \
"  task_group_id, idempotency_key, ephemeral, scheduled_at, visible_at, expires_at)" \
" SELECT u.id, $1, u.op, u.payload, COALESCE(u.meta, '{}'::jsonb), u.pri, u.ma, u.grp," \
"  u.idem, u.eph, u.sched, u.sched, u.exp" \
" FROM unnest($2::text[], $3::jsonb[], $4::jsonb[], $5::int4[], $6::int4[]," \
"  $7::text[], $8::text[], $9::bool[], $10::timestamptz[], $11::timestamptz[], $12::int8[])" \
"  AS u(op, payload, meta, pri, ma, grp, idem, eph, sched, exp, id)"

/* the keys that went in, to name one that did not */
const char *const tm_enqueue_batch_sql = ENQUEUE_BATCH_SQL ON_CONFLICT " RETURNING idempotency_key";
const char *const tm_enqueue_batch_plain_sql = ENQUEUE_BATCH_SQL;

/*
 * Wake the queue's workers now: NOTIFY taskmill with the queue name at commit.
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
	Async_Notify(TM_NOTIFY_CHANNEL, queue_name);
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
					key, queue_name),
			 errdetail("Idempotency keys are unique among a queue's tasks outside the dead-letter queue.")));
}

static void
check_meta(Jsonb *meta)
{
	if (!JB_ROOT_IS_OBJECT(meta))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("meta must be a JSON object"),
				 errdetail("The meta given was %s.",
						   JsonbToCString(NULL, &meta->root, VARSIZE(meta)))));
}

/*
 * taskmill.enqueue(queue_name, operation_id, payload, priority, max_attempts,
 *					scheduled_at, expires_at, task_group_id, idempotency_key,
 *					ephemeral, meta, notify) RETURNS bigint
 *
 * NULL for an option means its default.
 */
Datum
taskmill_enqueue(PG_FUNCTION_ARGS)
{
	static const Oid argtypes[12] = {
		TEXTOID, TEXTOID, JSONBOID, JSONBOID, INT4OID, INT4OID, TEXTOID, TEXTOID,
		BOOLOID, TIMESTAMPTZOID, TIMESTAMPTZOID, INT8OID
	};
	text	   *queue = tm_arg_name(fcinfo, 0, "queue name");
	text	   *operation = tm_arg_name(fcinfo, 1, "operation id");
	int32		priority = PG_ARGISNULL(3) ? TM_DEFAULT_PRIORITY : PG_GETARG_INT32(3);
	int32		max_attempts = PG_ARGISNULL(4) ? TM_DEFAULT_MAX_ATTEMPTS : PG_GETARG_INT32(4);
	Datum		scheduled_at;
	Datum		values[12];
	char		nulls[12];
	char	   *queue_name = text_to_cstring(queue);
	SPIPlanPtr	plan;
	int			rc;
	int64		id;

	tm_check_priority(priority);
	tm_check_max_attempts(max_attempts);
	scheduled_at = PG_ARGISNULL(5)
		? TimestampTzGetDatum(GetCurrentTransactionStartTimestamp())
		: PG_GETARG_DATUM(5);
	/* expires_at before scheduled_at is bad input only when the caller gave both */
	if (!PG_ARGISNULL(5) && !PG_ARGISNULL(6))
		tm_check_expiry(scheduled_at, PG_GETARG_DATUM(6));
	if (!PG_ARGISNULL(7))
	{
		text	   *g = PG_GETARG_TEXT_PP(7);

		tm_check_name(VARDATA_ANY(g), VARSIZE_ANY_EXHDR(g), "task group id");
	}
	if (!PG_ARGISNULL(8))
	{
		text	   *k = PG_GETARG_TEXT_PP(8);

		tm_check_idempotency_key(VARDATA_ANY(k), VARSIZE_ANY_EXHDR(k));
	}
	if (!PG_ARGISNULL(10))
		check_meta(PG_GETARG_JSONB_P(10));

	memset(nulls, ' ', sizeof(nulls));
	values[0] = PointerGetDatum(queue);
	values[1] = PointerGetDatum(operation);
	values[2] = PG_ARGISNULL(2) ? (nulls[2] = 'n', (Datum) 0) : PG_GETARG_DATUM(2);
	values[3] = PG_ARGISNULL(10) ? (nulls[3] = 'n', (Datum) 0) : PG_GETARG_DATUM(10);
	values[4] = Int32GetDatum(priority);
	values[5] = Int32GetDatum(max_attempts);
	values[6] = PG_ARGISNULL(7) ? (nulls[6] = 'n', (Datum) 0) : PG_GETARG_DATUM(7);
	id = next_task_id(task_id_sequence());
	values[7] = PG_ARGISNULL(8) ? generated_key(id) : PG_GETARG_DATUM(8);
	values[8] = BoolGetDatum(PG_ARGISNULL(9) ? false : PG_GETARG_BOOL(9));
	values[9] = scheduled_at;
	values[10] = PG_ARGISNULL(6) ? (nulls[10] = 'n', (Datum) 0) : PG_GETARG_DATUM(6);
	values[11] = Int64GetDatum(id);

	if (PG_ARGISNULL(8))
	{
		TmNewTask	t = {
			.id = id,
			.queue_name = values[0],
			.operation_id = values[1],
			.payload = values[2], .payload_null = nulls[2] == 'n',
			.meta = values[3], .meta_null = nulls[3] == 'n',
			.priority = priority,
			.max_attempts = max_attempts,
			.task_group_id = values[6], .task_group_id_null = nulls[6] == 'n',
			.idempotency_key = values[7],
			.ephemeral = DatumGetBool(values[8]),
			.scheduled_at = scheduled_at,
			.expires_at = values[10], .expires_at_null = nulls[10] == 'n',
		};

		if (tm_insert_tasks_direct(&t, 1))
		{
			tm_enqueue_notify(queue_name, fcinfo, 11);
			PG_RETURN_INT64(id);
		}
	}

	tm_spi_connect();
	plan = PG_ARGISNULL(8)
		? tm_plan(&enqueue_plain_plan, tm_enqueue_plain_sql, 12, argtypes)
		: tm_plan(&enqueue_plan, tm_enqueue_sql, 12, argtypes);
	rc = SPI_execute_plan(plan, values, nulls, false, 1);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "taskmill: enqueue failed: %s", SPI_result_code_string(rc));
	if (SPI_processed == 0)
		raise_duplicate_key(TextDatumGetCString(values[7]), queue_name);
	SPI_finish();

	tm_enqueue_notify(queue_name, fcinfo, 11);
	PG_RETURN_INT64(id);
}

/* ---- enqueue_batch ---- */

/* Column arrays of a batch, one entry per task, handed to the INSERT via unnest. */
typedef struct BatchColumns
{
	int			n;
	Datum	   *op;
	Datum	   *payload;
	bool	   *payload_null;
	Datum	   *meta;
	bool	   *meta_null;
	Datum	   *priority;
	Datum	   *max_attempts;
	Datum	   *group;
	bool	   *group_null;
	Datum	   *idem;
	bool	   *idem_null;
	char	  **idem_str;		/* explicit keys, for the duplicate check */
	Datum	   *ephemeral;
	Datum	   *scheduled_at;
	Datum	   *expires_at;
	bool	   *expires_null;
} BatchColumns;

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

static const char *
jbv_type_name(JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			return "null";
		case jbvString:
			return "string";
		case jbvNumeric:
			return "number";
		case jbvBool:
			return "boolean";
		case jbvBinary:
			return JsonContainerIsArray(v->val.binary.data) ? "array" : "object";
		default:
			return "unknown";
	}
}

static void
raise_wrong_type(const char *field, const char *expected, JsonbValue *v)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("field \"%s\" must be %s", field, expected),
			 errdetail("The value given is a JSON %s.", jbv_type_name(v))));
}

static char *
jbv_string(const char *field, JsonbValue *v)
{
	if (v->type != jbvString)
		raise_wrong_type(field, "a string", v);
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/* An integral JSON number that fits int32; anything else is 22023 naming the value. */
static int32
jbv_int32(const char *field, JsonbValue *v)
{
	char	   *s;
	char	   *end;
	long long	value;

	if (v->type != jbvNumeric)
		raise_wrong_type(field, "an integer", v);
	s = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
	errno = 0;
	value = strtoll(s, &end, 10);
	if (*end == '.')
	{
		char	   *p = end + 1;

		while (*p == '0')
			p++;
		if (*p == '\0')
			end = p;
	}
	if (*end != '\0' || errno != 0 || value < PG_INT32_MIN || value > PG_INT32_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("field \"%s\" must be an integer", field),
				 errdetail("The value given is %s.", s)));
	return (int32) value;
}

static Datum
jbv_timestamptz(const char *field, JsonbValue *v)
{
	char	   *s = jbv_string(field, v);

	return DirectFunctionCall3(timestamptz_in, CStringGetDatum(s),
							   ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
}

/* Read task i (0-based) of the batch into the column arrays. */
static void
read_batch_task(BatchColumns *c, int i, JsonbValue *el, Datum now)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken r;
	bool		have_op = false;
	bool		have_sched = false;

	if (el->type != jbvBinary || !JsonContainerIsObject(el->val.binary.data))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("each task of a batch must be a JSON object"),
				 errdetail("The task given is a JSON %s.", jbv_type_name(el))));

	c->payload_null[i] = true;
	c->meta_null[i] = true;
	c->priority[i] = Int32GetDatum(TM_DEFAULT_PRIORITY);
	c->max_attempts[i] = Int32GetDatum(TM_DEFAULT_MAX_ATTEMPTS);
	c->group_null[i] = true;
	c->idem_null[i] = true;
	c->idem_str[i] = NULL;
	c->ephemeral[i] = BoolGetDatum(false);
	c->scheduled_at[i] = now;
	c->expires_null[i] = true;

	it = JsonbIteratorInit(el->val.binary.data);
	while ((r = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		char	   *key;
		JsonbValue	val;

		if (r != WJB_KEY)
			continue;
		key = pnstrdup(v.val.string.val, v.val.string.len);
		r = JsonbIteratorNext(&it, &val, true);
		Assert(r == WJB_VALUE);

		if (strcmp(key, "operation_id") == 0)
		{
			char	   *s = jbv_string(key, &val);

			tm_check_name(s, strlen(s), "operation id");
			c->op[i] = CStringGetTextDatum(s);
			have_op = true;
		}
		else if (strcmp(key, "payload") == 0)
		{
			if (val.type != jbvNull)
			{
				c->payload[i] = JsonbPGetDatum(JsonbValueToJsonb(&val));
				c->payload_null[i] = false;
			}
		}
		else if (strcmp(key, "meta") == 0)
		{
			if (val.type != jbvNull)
			{
				if (val.type != jbvBinary || !JsonContainerIsObject(val.val.binary.data))
					raise_wrong_type(key, "an object", &val);
				c->meta[i] = JsonbPGetDatum(JsonbValueToJsonb(&val));
				c->meta_null[i] = false;
			}
		}
		else if (strcmp(key, "priority") == 0)
		{
			if (val.type != jbvNull)
			{
				int32		p = jbv_int32(key, &val);

				tm_check_priority(p);
				c->priority[i] = Int32GetDatum(p);
			}
		}
		else if (strcmp(key, "max_attempts") == 0)
		{
			if (val.type != jbvNull)
			{
				int32		m = jbv_int32(key, &val);

				tm_check_max_attempts(m);
				c->max_attempts[i] = Int32GetDatum(m);
			}
		}
		else if (strcmp(key, "task_group_id") == 0)
		{
			if (val.type != jbvNull)
			{
				char	   *s = jbv_string(key, &val);

				tm_check_name(s, strlen(s), "task group id");
				c->group[i] = CStringGetTextDatum(s);
				c->group_null[i] = false;
			}
		}
		else if (strcmp(key, "idempotency_key") == 0)
		{
			if (val.type != jbvNull)
			{
				char	   *s = jbv_string(key, &val);

				tm_check_idempotency_key(s, strlen(s));
				c->idem[i] = CStringGetTextDatum(s);
				c->idem_null[i] = false;
				c->idem_str[i] = s;
			}
		}
		else if (strcmp(key, "ephemeral") == 0)
		{
			if (val.type != jbvNull)
			{
				if (val.type != jbvBool)
					raise_wrong_type(key, "a boolean", &val);
				c->ephemeral[i] = BoolGetDatum(val.val.boolean);
			}
		}
		else if (strcmp(key, "scheduled_at") == 0)
		{
			if (val.type != jbvNull)
			{
				c->scheduled_at[i] = jbv_timestamptz(key, &val);
				have_sched = true;
			}
		}
		else if (strcmp(key, "expires_at") == 0)
		{
			if (val.type != jbvNull)
			{
				c->expires_at[i] = jbv_timestamptz(key, &val);
				c->expires_null[i] = false;
			}
		}
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown field \"%s\" in task", key),
					 errhint("Task fields are operation_id, payload, priority, max_attempts, scheduled_at, expires_at, task_group_id, idempotency_key, ephemeral and meta.")));
	}
	if (!have_op)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("operation id must not be null"),
				 errdetail("Each task of a batch needs a string field \"operation_id\".")));
	/* as in enqueue: checked only against a scheduled_at the task gives */
	if (have_sched && !c->expires_null[i])
		tm_check_expiry(c->scheduled_at[i], c->expires_at[i]);
}

typedef struct KeyRef
{
	const char *key;
	int			task;
} KeyRef;

static int
keyref_cmp(const void *a, const void *b)
{
	const KeyRef *ka = (const KeyRef *) a;
	const KeyRef *kb = (const KeyRef *) b;
	int			c = strcmp(ka->key, kb->key);

	return c != 0 ? c : ka->task - kb->task;
}

static int
str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Two tasks of one batch with the same explicit key fail the batch before any insert. */
static void
check_batch_duplicates(BatchColumns *c)
{
	KeyRef	   *refs = palloc(sizeof(KeyRef) * Max(c->n, 1));
	int			m = 0;

	for (int i = 0; i < c->n; i++)
		if (c->idem_str[i] != NULL)
		{
			refs[m].key = c->idem_str[i];
			refs[m].task = i + 1;
			m++;
		}
	qsort(refs, m, sizeof(KeyRef), keyref_cmp);
	for (int i = 1; i < m; i++)
		if (strcmp(refs[i - 1].key, refs[i].key) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNIQUE_VIOLATION),
					 errmsg("duplicate idempotency key \"%s\" in batch", refs[i].key),
					 errdetail("Tasks %d and %d of the batch have the same idempotency key.",
							   refs[i - 1].task, refs[i].task)));
	pfree(refs);
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

static void
alloc_batch_columns(BatchColumns *cp)
{
#define ALLOC_COL(field, type) cp->field = (type *) palloc0(sizeof(type) * cp->n)
	ALLOC_COL(op, Datum);
	ALLOC_COL(payload, Datum);
	ALLOC_COL(payload_null, bool);
	ALLOC_COL(meta, Datum);
	ALLOC_COL(meta_null, bool);
	ALLOC_COL(priority, Datum);
	ALLOC_COL(max_attempts, Datum);
	ALLOC_COL(group, Datum);
	ALLOC_COL(group_null, bool);
	ALLOC_COL(idem, Datum);
	ALLOC_COL(idem_null, bool);
	ALLOC_COL(idem_str, char *);
	ALLOC_COL(ephemeral, Datum);
	ALLOC_COL(scheduled_at, Datum);
	ALLOC_COL(expires_at, Datum);
	ALLOC_COL(expires_null, bool);
#undef ALLOC_COL
}

static Datum insert_batch(FunctionCallInfo fcinfo, text *queue, char *queue_name,
						  BatchColumns *cp, BatchErrorContext *ectxp,
						  ErrorContextCallback *errcbp, int notify_argno);

/*
 * taskmill.enqueue_batch(queue_name, tasks jsonb) RETURNS bigint[]
 *
 * All tasks are validated first, then inserted by one INSERT ... SELECT FROM unnest(...)
 * (one plan, one executor run), so the cost per task is close to a COPY's.
 */
Datum
taskmill_enqueue_batch(PG_FUNCTION_ARGS)
{
	text	   *queue = tm_arg_name(fcinfo, 0, "queue name");
	char	   *queue_name = text_to_cstring(queue);
	Jsonb	   *tasks;
	BatchColumns c;
	BatchErrorContext ectx = {0};
	ErrorContextCallback errcb;
	Datum		now = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());

	tm_require_arg(fcinfo, 1, "tasks");
	tasks = PG_GETARG_JSONB_P(1);
	if (!JB_ROOT_IS_ARRAY(tasks) || JB_ROOT_IS_SCALAR(tasks))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("tasks must be a JSON array of task objects"),
				 errdetail("The value given is a JSON %s.",
						   JB_ROOT_IS_OBJECT(tasks) ? "object" : "scalar")));

	c.n = JB_ROOT_COUNT(tasks);
	if (c.n == 0)
		PG_RETURN_ARRAYTYPE_P(construct_empty_array(INT8OID));

	alloc_batch_columns(&c);

	push_batch_error_context(&errcb, &ectx);
	for (int i = 0; i < c.n; i++)
	{
		ectx.task = i + 1;
		read_batch_task(&c, i, getIthJsonbValueFromContainer(&tasks->root, i), now);
	}
	error_context_stack = errcb.previous;

	return insert_batch(fcinfo, queue, queue_name, &c, &ectx, &errcb, 2);
}

/* The batch without callers' keys, inserted directly; false: use the SQL statement. */
static bool
insert_batch_direct(text *queue, const BatchColumns *c, const Datum *ids)
{
	TmNewTask  *t = palloc(sizeof(TmNewTask) * c->n);

	for (int i = 0; i < c->n; i++)
	{
		t[i].id = DatumGetInt64(ids[i]);
		t[i].queue_name = PointerGetDatum(queue);
		t[i].operation_id = c->op[i];
		t[i].payload = c->payload[i];
		t[i].payload_null = c->payload_null[i];
		t[i].meta = c->meta[i];
		t[i].meta_null = c->meta_null[i];
		t[i].priority = DatumGetInt32(c->priority[i]);
		t[i].max_attempts = DatumGetInt32(c->max_attempts[i]);
		t[i].task_group_id = c->group[i];
		t[i].task_group_id_null = c->group_null[i];
		t[i].idempotency_key = c->idem[i];
		t[i].ephemeral = DatumGetBool(c->ephemeral[i]);
		t[i].scheduled_at = c->scheduled_at[i];
		t[i].expires_at = c->expires_at[i];
		t[i].expires_at_null = c->expires_null[i];
	}
	return tm_insert_tasks_direct(t, c->n);
}

/*
 * The batch through the SQL INSERT (callers' keys need its ON CONFLICT): all of it, or
 * an error naming the first task whose key a queued task has.
 */
static void
insert_batch_sql(text *queue, char *queue_name, const BatchColumns *c, Datum *ids,
				 bool any_key, BatchErrorContext *ectxp, ErrorContextCallback *errcbp)
{
	static const Oid argtypes[12] = {
		TEXTOID, TEXTARRAYOID, JSONBARRAYOID, JSONBARRAYOID, INT4ARRAYOID, INT4ARRAYOID,
		TEXTARRAYOID, TEXTARRAYOID, BOOLARRAYOID, TIMESTAMPTZARRAYOID, TIMESTAMPTZARRAYOID,
		INT8ARRAYOID
	};
	Datum		values[12];
	SPIPlanPtr	plan;
	int			rc;
	uint64		inserted;

	values[0] = PointerGetDatum(queue);
	values[1] = make_array(c->op, NULL, c->n, TEXTOID);
	values[2] = make_array(c->payload, c->payload_null, c->n, JSONBOID);
	values[3] = make_array(c->meta, c->meta_null, c->n, JSONBOID);
	values[4] = make_array(c->priority, NULL, c->n, INT4OID);
	values[5] = make_array(c->max_attempts, NULL, c->n, INT4OID);
	values[6] = make_array(c->group, c->group_null, c->n, TEXTOID);
	values[7] = make_array(c->idem, c->idem_null, c->n, TEXTOID);
	values[8] = make_array(c->ephemeral, NULL, c->n, BOOLOID);
	values[9] = make_array(c->scheduled_at, NULL, c->n, TIMESTAMPTZOID);
	values[10] = make_array(c->expires_at, c->expires_null, c->n, TIMESTAMPTZOID);
	values[11] = make_array(ids, NULL, c->n, INT8OID);

	tm_spi_connect();
	plan = any_key
		? tm_plan(&enqueue_batch_plan, tm_enqueue_batch_sql, 12, argtypes)
		: tm_plan(&enqueue_batch_plain_plan, tm_enqueue_batch_plain_sql, 12, argtypes);
	rc = SPI_execute_plan(plan, values, NULL, false, 0);
	if (rc != (any_key ? SPI_OK_INSERT_RETURNING : SPI_OK_INSERT))
		elog(ERROR, "taskmill: enqueue_batch failed: %s", SPI_result_code_string(rc));
	inserted = SPI_processed;

	if (inserted < (uint64) c->n)
	{
		/* Some explicit key exists already: name the first one of the batch. */
		char	  **got = palloc(sizeof(char *) * Max(inserted, 1));

		for (uint64 i = 0; i < inserted; i++)
			got[i] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		qsort(got, inserted, sizeof(char *), str_cmp);
		for (int i = 0; i < c->n; i++)
			if (c->idem_str[i] != NULL &&
				bsearch(&c->idem_str[i], got, inserted, sizeof(char *), str_cmp) == NULL)
			{
				ectxp->task = i + 1;
				error_context_stack = errcbp;
				raise_duplicate_key(c->idem_str[i], queue_name);
			}
		elog(ERROR, "taskmill: enqueue_batch inserted %llu of %d tasks",
			 (unsigned long long) inserted, c->n);
	}
	SPI_finish();
}

/*
 * The common end of both batch forms: the columns of c are read and checked (c->n > 0);
 * draw the ids, generate the missing keys, insert them all (or fail naming the first
 * duplicate key), notify, return the ids.
 */
static Datum
insert_batch(FunctionCallInfo fcinfo, text *queue, char *queue_name, BatchColumns *cp,
			 BatchErrorContext *ectxp, ErrorContextCallback *errcbp, int notify_argno)
{
	BatchColumns c = *cp;
	Datum	   *ids = palloc(sizeof(Datum) * c.n);
	Oid			seq = task_id_sequence();
	bool		any_key = false;

	check_batch_duplicates(&c);
	for (int i = 0; i < c.n; i++)
	{
		int64		id = next_task_id(seq);

		ids[i] = Int64GetDatum(id);
		if (c.idem_str[i] != NULL)
			any_key = true;
		else
		{
			c.idem[i] = generated_key(id);
			c.idem_null[i] = false;
		}
	}

	if (any_key || !insert_batch_direct(queue, &c, ids))
		insert_batch_sql(queue, queue_name, &c, ids, any_key, ectxp, errcbp);

	tm_enqueue_notify(queue_name, fcinfo, notify_argno);
	PG_RETURN_ARRAYTYPE_P(construct_array(ids, c.n, INT8OID, sizeof(int64),
										  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/* ---- enqueue_arrays ---- */

/*
 * Array argument argno of enqueue_arrays, deconstructed; false if it is NULL (every
 * task takes the default). Its length must be n, the number of operation ids.
 */
static bool
get_column_arg(FunctionCallInfo fcinfo, int argno, const char *name, Oid elmtype, int n,
			   Datum **values, bool **nulls)
{
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
	get_typlenbyvalalign(elmtype, &typlen, &typbyval, &typalign);
	deconstruct_array(a, elmtype, typlen, typbyval, typalign, values, nulls, &count);
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
taskmill_enqueue_arrays(PG_FUNCTION_ARGS)
{
	text	   *queue = tm_arg_name(fcinfo, 0, "queue name");
	char	   *queue_name = text_to_cstring(queue);
	BatchColumns c;
	BatchErrorContext ectx = {0};
	ErrorContextCallback errcb;
	Datum		now = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	ArrayType  *ops_array;
	Datum	   *ops;
	bool	   *ops_null;
	Datum	   *payloads = NULL, *pris = NULL, *mas = NULL, *scheds = NULL, *exps = NULL;
	Datum	   *groups = NULL, *keys = NULL, *ephs = NULL, *metas = NULL;
	bool	   *payloads_n = NULL, *pris_n = NULL, *mas_n = NULL, *scheds_n = NULL;
	bool	   *exps_n = NULL, *groups_n = NULL, *keys_n = NULL, *ephs_n = NULL;
	bool	   *metas_n = NULL;
	bool		have_payloads, have_pris, have_mas, have_scheds, have_exps;
	bool		have_groups, have_keys, have_ephs, have_metas;

	tm_require_arg(fcinfo, 1, "operation ids");
	ops_array = PG_GETARG_ARRAYTYPE_P(1);
	if (ARR_NDIM(ops_array) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("operation_ids must be a one-dimensional array")));
	deconstruct_array(ops_array, TEXTOID, -1, false, TYPALIGN_INT, &ops, &ops_null, &c.n);

	have_payloads = get_column_arg(fcinfo, 2, "payloads", JSONBOID, c.n, &payloads, &payloads_n);
	have_pris = get_column_arg(fcinfo, 3, "priorities", INT4OID, c.n, &pris, &pris_n);
	have_mas = get_column_arg(fcinfo, 4, "max_attempts", INT4OID, c.n, &mas, &mas_n);
	have_scheds = get_column_arg(fcinfo, 5, "scheduled_ats", TIMESTAMPTZOID, c.n, &scheds, &scheds_n);
	have_exps = get_column_arg(fcinfo, 6, "expires_ats", TIMESTAMPTZOID, c.n, &exps, &exps_n);
	have_groups = get_column_arg(fcinfo, 7, "task_group_ids", TEXTOID, c.n, &groups, &groups_n);
	have_keys = get_column_arg(fcinfo, 8, "idempotency_keys", TEXTOID, c.n, &keys, &keys_n);
	have_ephs = get_column_arg(fcinfo, 9, "ephemerals", BOOLOID, c.n, &ephs, &ephs_n);
	have_metas = get_column_arg(fcinfo, 10, "metas", JSONBOID, c.n, &metas, &metas_n);

	if (c.n == 0)
		PG_RETURN_ARRAYTYPE_P(construct_empty_array(INT8OID));

	alloc_batch_columns(&c);

	push_batch_error_context(&errcb, &ectx);
	for (int i = 0; i < c.n; i++)
	{
		bool		have_sched = false;

		ectx.task = i + 1;
		if (ops_null[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("operation id must not be null")));
		tm_check_name(VARDATA_ANY(DatumGetPointer(ops[i])),
					  VARSIZE_ANY_EXHDR(DatumGetPointer(ops[i])), "operation id");
		c.op[i] = ops[i];

		c.payload_null[i] = !have_payloads || payloads_n[i];
		if (!c.payload_null[i])
			c.payload[i] = payloads[i];

		c.meta_null[i] = !have_metas || metas_n[i];
		if (!c.meta_null[i])
		{
			check_meta(DatumGetJsonbP(metas[i]));
			c.meta[i] = metas[i];
		}

		c.priority[i] = Int32GetDatum(TM_DEFAULT_PRIORITY);
		if (have_pris && !pris_n[i])
		{
			tm_check_priority(DatumGetInt32(pris[i]));
			c.priority[i] = pris[i];
		}

		c.max_attempts[i] = Int32GetDatum(TM_DEFAULT_MAX_ATTEMPTS);
		if (have_mas && !mas_n[i])
		{
			tm_check_max_attempts(DatumGetInt32(mas[i]));
			c.max_attempts[i] = mas[i];
		}

		c.group_null[i] = !have_groups || groups_n[i];
		if (!c.group_null[i])
		{
			tm_check_name(VARDATA_ANY(DatumGetPointer(groups[i])),
						  VARSIZE_ANY_EXHDR(DatumGetPointer(groups[i])), "task group id");
			c.group[i] = groups[i];
		}

		c.idem_null[i] = true;
		c.idem_str[i] = NULL;
		if (have_keys && !keys_n[i])
		{
			tm_check_idempotency_key(VARDATA_ANY(DatumGetPointer(keys[i])),
									 VARSIZE_ANY_EXHDR(DatumGetPointer(keys[i])));
			c.idem[i] = keys[i];
			c.idem_null[i] = false;
			c.idem_str[i] = TextDatumGetCString(keys[i]);
		}

		c.ephemeral[i] = (have_ephs && !ephs_n[i]) ? ephs[i] : BoolGetDatum(false);

		c.scheduled_at[i] = now;
		if (have_scheds && !scheds_n[i])
		{
			c.scheduled_at[i] = scheds[i];
			have_sched = true;
		}

		c.expires_null[i] = !have_exps || exps_n[i];
		if (!c.expires_null[i])
			c.expires_at[i] = exps[i];

		/* as in enqueue: checked only against a scheduled_at the task gives */
		if (have_sched && !c.expires_null[i])
			tm_check_expiry(c.scheduled_at[i], c.expires_at[i]);
	}
	error_context_stack = errcb.previous;

	return insert_batch(fcinfo, queue, queue_name, &c, &ectx, &errcb, 11);
}
