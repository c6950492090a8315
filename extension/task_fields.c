/*
 * task_fields.c
 *		The fields of a new task, read the same way whichever way a caller gives them:
 *		enqueue's arguments, enqueue_arrays' arrays, the objects of enqueue_batch's JSON
 *		array and the options of a schedule. One table (tm_fields) names each field, its
 *		type and its column; one setter checks each value; the defaults of the fields a
 *		caller leaves out are the column defaults of taskmill.tasks, read from the
 *		catalog (10_schema.sql is the only place that states them).
 */
#include "postgres.h"

#include <math.h>

#include "access/detoast.h"
#include "access/sysattr.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "lib/stringinfo.h"
#include "optimizer/optimizer.h"
#include "rewrite/rewriteHandler.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "taskmill.h"

/* In the order of TmField; array_arg is enqueue_arrays' name for the field's array. */
const TmFieldInfo tm_fields[TF_COUNT] = {
	[TF_OPERATION_ID] = {"operation_id", TEXTOID, "pg_catalog.text", "operation_ids"},
	[TF_PAYLOAD] = {"payload", JSONBOID, "pg_catalog.jsonb", "payloads"},
	[TF_META] = {"meta", JSONBOID, "pg_catalog.jsonb", "metas"},
	[TF_PRIORITY] = {"priority", INT4OID, "pg_catalog.int4", "priorities"},
	[TF_MAX_ATTEMPTS] = {"max_attempts", INT4OID, "pg_catalog.int4", "max_attempts"},
	[TF_TASK_GROUP_ID] = {"task_group_id", TEXTOID, "pg_catalog.text", "task_group_ids"},
	[TF_IDEMPOTENCY_KEY] = {"idempotency_key", TEXTOID, "pg_catalog.text", "idempotency_keys"},
	[TF_EPHEMERAL] = {"ephemeral", BOOLOID, "pg_catalog.bool", "ephemerals"},
	[TF_SCHEDULED_AT] = {"scheduled_at", TIMESTAMPTZOID, "pg_catalog.timestamptz", "scheduled_ats"},
	[TF_EXPIRES_AT] = {"expires_at", TIMESTAMPTZOID, "pg_catalog.timestamptz", "expires_ats"},
	[TF_EXPIRES_IN] = {"expires_in", INTERVALOID, "pg_catalog.interval", NULL},
};

/* Longest timestamp or interval text worth parsing (the parsers quote all of it). */
#define TM_TIME_TEXT_MAX 128

/* ---- checks ---- */

static void
raise_wrong_type(TmField f, const char *expected, JsonbValue *v)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("field \"%s\" must be %s", tm_fields[f].name, expected),
			 errdetail("The value given is a JSON %s.",
					   tm_json_type_name(v->type, v->type == jbvBinary &&
										 JsonContainerIsArray(v->val.binary.data)))));
}

static void
raise_bad_value(TmField f, const char *expected, const char *given)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("field \"%s\" must be %s", tm_fields[f].name, expected),
			 errdetail("The value given is %s.", tm_quote(given, strlen(given)))));
}

static void
check_meta(Jsonb *j)
{
	char	   *given;

	tm_check_size("meta", VARSIZE(j), tm_max_meta_bytes, "taskmill.max_meta_bytes");
	if (JB_ROOT_IS_OBJECT(j))
		return;
	given = JsonbToCString(NULL, &j->root, VARSIZE(j));
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("meta must be a JSON object"),
			 errdetail("The meta given was %s.", tm_quote(given, strlen(given)))));
}

static void
check_expires_in(Datum interval)
{
	Interval	zero;

	memset(&zero, 0, sizeof(zero));
	if (!DatumGetBool(DirectFunctionCall2(interval_gt, interval, IntervalPGetDatum(&zero))))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("field \"expires_in\" must be a positive interval"),
				 errdetail("The value given is \"%s\".",
						   DatumGetCString(DirectFunctionCall1(interval_out, interval)))));
}

/*
 * Check a field's value (not NULL); raises 22023 naming the field. Returns the value,
 * detoasted where it had to be read.
 */
static Datum
check_value(TmField f, Datum value)
{
	switch (f)
	{
		case TF_OPERATION_ID:
		case TF_TASK_GROUP_ID:
		case TF_IDEMPOTENCY_KEY:
			{
				text	   *t = DatumGetTextPP(value);

				if (f == TF_IDEMPOTENCY_KEY)
					tm_check_idempotency_key(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
				else
					tm_check_name(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t),
								  f == TF_OPERATION_ID ? "operation id" : "task group id");
				return PointerGetDatum(t);
			}
		case TF_PAYLOAD:
			/* the size without detoasting (a short payload is not copied) */
			tm_check_size("payload", toast_raw_datum_size(value), tm_max_payload_bytes,
						  "taskmill.max_payload_bytes");
			break;
		case TF_META:
			{
				Jsonb	   *j = DatumGetJsonbP(value);

				check_meta(j);
				return JsonbPGetDatum(j);
			}
		case TF_PRIORITY:
			tm_check_priority(DatumGetInt32(value));
			break;
		case TF_MAX_ATTEMPTS:
			tm_check_max_attempts(DatumGetInt32(value));
			break;
		case TF_EXPIRES_IN:
			check_expires_in(value);
			break;
		case TF_SCHEDULED_AT:
			tm_check_scheduled_at(value);
			break;
		case TF_EPHEMERAL:
		case TF_EXPIRES_AT:
		case TF_COUNT:
			break;
	}
	return value;
}

/* ---- one task ---- */

/* Every field not given: the server's default (tm_task_fill_defaults). */
void
tm_task_init(TmNewTask *t)
{
	t->id = 0;
	for (int f = 0; f < TF_COUNT; f++)
	{
		t->values[f] = (Datum) 0;
		t->isnull[f] = true;
	}
}

/* Set field f (isnull: back to the default), checking the value. */
void
tm_task_set(TmNewTask *t, TmField f, Datum value, bool isnull)
{
	t->values[f] = isnull ? (Datum) 0 : check_value(f, value);
	t->isnull[f] = isnull;
}

/*
 * The checks that involve more than one field, once all are set: an operation id is
 * required; expires_in becomes expires_at (from the transaction's start, as now());
 * expires_at may not be before a scheduled_at the caller gave.
 */
void
tm_task_check(TmNewTask *t)
{
	if (t->isnull[TF_OPERATION_ID])
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("operation id must not be null")));
	if (!t->isnull[TF_EXPIRES_IN])
	{
		t->values[TF_EXPIRES_AT] =
			DirectFunctionCall2(timestamptz_pl_interval,
								TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()),
								t->values[TF_EXPIRES_IN]);
		t->isnull[TF_EXPIRES_AT] = false;
		t->isnull[TF_EXPIRES_IN] = true;
	}
	if (!t->isnull[TF_SCHEDULED_AT] && !t->isnull[TF_EXPIRES_AT])
		tm_check_expiry(t->values[TF_SCHEDULED_AT], t->values[TF_EXPIRES_AT]);
}

/* ---- JSON ---- */

/* An integral JSON number that fits int32; anything else is 22023 naming the value. */
static int32
json_int32(TmField f, JsonbValue *v)
{
	char	   *s;
	char	   *end;
	long long	value;

	if (v->type != jbvNumeric)
		raise_wrong_type(f, "an integer", v);
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
		raise_bad_value(f, "an integer", s);
	return (int32) value;
}

static char *
json_string(TmField f, JsonbValue *v)
{
	if (v->type != jbvString)
		raise_wrong_type(f, "a string", v);
	return pnstrdup(v->val.string.val, v->val.string.len);
}

static Datum
json_timestamptz(TmField f, JsonbValue *v)
{
	char	   *s = json_string(f, v);

	if (strlen(s) > TM_TIME_TEXT_MAX)
		raise_bad_value(f, "a timestamp", s);
	return DirectFunctionCall3(timestamptz_in, CStringGetDatum(s),
							   ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
}

/* Parse interval text as interval_in does, but report failure instead of raising. */
static bool
parse_interval_text(const char *str, Interval *result)
{
	char		workbuf[256];
	char	   *field[MAXDATEFIELDS];
	int			ftype[MAXDATEFIELDS];
	int			nf;
	int			dtype = 0;
	int			dterr;
	struct pg_itm_in itm_in;

	memset(&itm_in, 0, sizeof(itm_in));
	dterr = ParseDateTime(str, workbuf, sizeof(workbuf), field, ftype, MAXDATEFIELDS, &nf);
	if (dterr == 0)
		dterr = DecodeInterval(field, ftype, nf, INTERVAL_FULL_RANGE, &dtype, &itm_in);
	if (dterr == DTERR_BAD_FORMAT)
	{
		memset(&itm_in, 0, sizeof(itm_in));
		dterr = DecodeISO8601Interval(pstrdup(str), &dtype, &itm_in);
	}
	if (dterr != 0 || dtype != DTK_DELTA)
		return false;
	return itmin2interval(&itm_in, result) == 0;
}

/* An interval as text ("5 minutes", ISO 8601) or a positive number of seconds. */
static Datum
json_interval(TmField f, JsonbValue *v)
{
	Interval   *result = palloc0(sizeof(Interval));

	if (v->type == jbvNumeric)
	{
		char	   *s = DatumGetCString(DirectFunctionCall1(numeric_out,
															NumericGetDatum(v->val.numeric)));
		double		secs = strtod(s, NULL);

		if (!isfinite(secs) || secs <= 0 || secs > 100.0 * 365 * 86400)
			raise_bad_value(f, "a positive number of seconds (at most 100 years)", s);
		result->time = (TimeOffset) (secs * USECS_PER_SEC);
	}
	else if (v->type == jbvString)
	{
		char	   *s = json_string(f, v);

		if (!parse_interval_text(s, result))
			raise_bad_value(f, "an interval", psprintf("\"%s\"", tm_quote(s, strlen(s))));
	}
	else
		raise_wrong_type(f, "an interval such as \"5 minutes\" or a number of seconds", v);
	return IntervalPGetDatum(result);
}

/* Set field f from a JSON value (JSON null: back to the default). */
void
tm_task_set_json(TmNewTask *t, TmField f, JsonbValue *v)
{
	Datum		value = (Datum) 0;

	if (v->type == jbvNull)
	{
		tm_task_set(t, f, (Datum) 0, true);
		return;
	}
	switch (tm_fields[f].type)
	{
		case TEXTOID:
			value = PointerGetDatum(cstring_to_text(json_string(f, v)));
			break;
		case JSONBOID:
			if (f == TF_META &&
				(v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data)))
				raise_wrong_type(f, "an object", v);
			value = JsonbPGetDatum(JsonbValueToJsonb(v));
			break;
		case INT4OID:
			value = Int32GetDatum(json_int32(f, v));
			break;
		case BOOLOID:
			if (v->type != jbvBool)
				raise_wrong_type(f, "a boolean", v);
			value = BoolGetDatum(v->val.boolean);
			break;
		case TIMESTAMPTZOID:
			value = json_timestamptz(f, v);
			break;
		case INTERVALOID:
			value = json_interval(f, v);
			break;
	}
	tm_task_set(t, f, value, false);
}

/* The names of the allowed fields, for a message: "a, b and c". */
static char *
field_list(uint32 allowed)
{
	StringInfoData s;
	int			left = 0;

	for (int f = 0; f < TF_COUNT; f++)
		if (allowed & TF_BIT(f))
			left++;
	initStringInfo(&s);
	for (int f = 0; f < TF_COUNT; f++)
		if (allowed & TF_BIT(f))
		{
			appendStringInfoString(&s, tm_fields[f].name);
			left--;
			appendStringInfoString(&s, left > 1 ? ", " : left == 1 ? " and " : "");
		}
	return s.data;
}

/*
 * Set the fields a JSON object names, on top of what t holds (so that a schedule's
 * overrides can be read over its options); what names the object in messages.
 */
void
tm_task_read_json(TmNewTask *t, JsonbContainer *object, uint32 allowed, const char *what)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken r;

	it = JsonbIteratorInit(object);
	while ((r = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		int			f;
		JsonbValue	val;

		if (r != WJB_KEY)
			continue;
		for (f = 0; f < TF_COUNT; f++)
			if ((allowed & TF_BIT(f)) &&
				strlen(tm_fields[f].name) == v.val.string.len &&
				memcmp(tm_fields[f].name, v.val.string.val, v.val.string.len) == 0)
				break;
		if (f == TF_COUNT)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown field \"%s\" in %s",
							tm_quote(v.val.string.val, v.val.string.len), what),
					 errhint("The fields are %s.", field_list(allowed))));
		r = JsonbIteratorNext(&it, &val, true);
		Assert(r == WJB_VALUE);
		tm_task_set_json(t, (TmField) f, &val);
	}
}

/* ---- the table's columns and their defaults, from the catalog ---- */

static MemoryContext table_cxt = NULL;
static TmTaskTable task_table;

static void
table_invalidate(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == task_table.relid)
		task_table.relid = InvalidOid;
}

/* How column att of taskmill.tasks gets its value in a new task. */
static void
read_column(Relation rel, Form_pg_attribute att, TmColumn *col)
{
	const char *name = NameStr(att->attname);

	col->source = TCS_DEFAULT;
	if (att->attisdropped)
	{
		col->source = TCS_DROPPED;
		return;
	}
	if (strcmp(name, "id") == 0)
		col->source = TCS_ID;
	else if (strcmp(name, "queue_name") == 0)
		col->source = TCS_QUEUE;
	else if (strcmp(name, "visible_at") == 0)
	{
		col->source = TCS_FIELD;
		col->field = TF_SCHEDULED_AT;
	}
	else if (strcmp(name, "waiting") == 0)
		col->source = TCS_WAITING;
	for (int f = 0; f < TF_COUNT; f++)
		if ((TF_COLUMNS & TF_BIT(f)) && strcmp(name, tm_fields[f].name) == 0)
		{
			col->source = TCS_FIELD;
			col->field = (TmField) f;
		}

	/* the default, for a field a task leaves out or a column no field fills */
	tm_read_column_default(rel, att, col);
}

/*
 * Column att's default, as an INSERT that leaves the column out gets it: a constant,
 * now(), or an expression evaluated per row (tm_column_default). None (NULL) for a
 * generated column (rel_insert.c leaves tables with one to the SQL statement) or an
 * identity column.
 */
void
tm_read_column_default(Relation rel, Form_pg_attribute att, TmColumn *col)
{
	Node	   *expr;

	col->kind = TDK_NONE;
	col->isnull = true;
	col->value = (Datum) 0;
	if (att->attgenerated || att->attidentity)
		return;
	expr = build_column_default(rel, att->attnum);
	if (expr == NULL)
		return;
	expr = (Node *) expression_planner((Expr *) expr);
	if (IsA(expr, Const))
	{
		Const	   *c = (Const *) expr;

		col->kind = TDK_CONST;
		col->isnull = c->constisnull;
		if (!c->constisnull)
			col->value = datumCopy(c->constvalue, c->constbyval, c->constlen);
	}
	else if (IsA(expr, FuncExpr) && ((FuncExpr *) expr)->funcid == F_NOW)
		col->kind = TDK_NOW;	/* the transaction's start, as now() returns */
	else
	{
		col->kind = TDK_EXPR;
		col->expr = copyObject((Expr *) expr);
	}
}

/*
 * Open taskmill.relname (AccessShareLock) to read its description into a cache kept for
 * the backend in *cxt: made on first use, when callback is registered to drop the cache
 * on a relcache invalidation (there is no unregistering it), and emptied for each read.
 * relname must be a constant: it names the context.
 */
Relation
tm_open_cached_table(const char *relname, MemoryContext *cxt, RelcacheCallbackFunction callback)
{
	Oid			relid = get_relname_relid(relname, get_namespace_oid("taskmill", false));

	if (!OidIsValid(relid))
		elog(ERROR, "taskmill: table taskmill.%s is missing", relname);
	if (*cxt == NULL)
	{
		*cxt = AllocSetContextCreate(CacheMemoryContext, "taskmill table description",
									 ALLOCSET_SMALL_SIZES);
		MemoryContextSetIdentifier(*cxt, relname);
		CacheRegisterRelcacheCallback(callback, (Datum) 0);
	}
	MemoryContextReset(*cxt);
	return table_open(relid, AccessShareLock);
}

/*
 * taskmill.tasks as new tasks fill it: per column, where its value comes from and its
 * default, read from the catalog once per backend and again after the table changes
 * (relcache invalidation). Every field with a column must have one.
 */
const TmTaskTable *
tm_task_table(void)
{
	Oid			relid;
	Relation	rel;
	TupleDesc	desc;
	MemoryContext old;

	/* valid until an invalidation of the table (its drop included) resets relid */
	if (OidIsValid(task_table.relid))
		return &task_table;
	rel = tm_open_cached_table("tasks", &table_cxt, table_invalidate);
	relid = RelationGetRelid(rel);
	memset(&task_table, 0, sizeof(task_table));
	desc = RelationGetDescr(rel);
	old = MemoryContextSwitchTo(table_cxt);
	task_table.natts = desc->natts;
	task_table.cols = palloc0(sizeof(TmColumn) * desc->natts);
	for (int f = 0; f < TF_COUNT; f++)
		task_table.field_col[f] = -1;
	for (int i = 0; i < desc->natts; i++)
	{
		TmColumn   *col = &task_table.cols[i];

		read_column(rel, TupleDescAttr(desc, i), col);
		if (col->source == TCS_FIELD && strcmp(NameStr(TupleDescAttr(desc, i)->attname),
											   "visible_at") != 0)
			task_table.field_col[col->field] = i;
		if (col->source == TCS_WAITING)
			task_table.has_waiting = true;
		if (col->source != TCS_DEFAULT && col->source != TCS_DROPPED)
			task_table.inserted_cols =
				bms_add_member(task_table.inserted_cols,
							   i + 1 - FirstLowInvalidHeapAttributeNumber);
	}
	MemoryContextSwitchTo(old);
	task_table.has_generated = desc->constr && desc->constr->has_generated_stored;
	table_close(rel, AccessShareLock);

	for (int f = 0; f < TF_COUNT; f++)
		if ((TF_COLUMNS & TF_BIT(f)) && task_table.field_col[f] < 0)
			elog(ERROR, "taskmill: column taskmill.tasks.%s is missing", tm_fields[f].name);
	task_table.relid = relid;
	return &task_table;
}

/*
 * Whether taskmill.tasks has the waiting column (0.2). The library is installed before
 * ALTER EXTENSION UPDATE runs, so it must also work on a 0.1 table: there every task
 * is in tasks_dequeue_idx and nothing is parked.
 */
bool
tm_tasks_have_waiting(void)
{
	return tm_task_table()->has_waiting;
}

/*
 * tm_column_default (taskmill.h) past a constant: now(), or the column's expression
 * (state made by the caller with ExecInitExpr, evaluated in econtext).
 */
Datum
tm_column_default_eval(const TmColumn *col, ExprState *state, ExprContext *econtext, bool *isnull)
{
	switch (col->kind)
	{
		case TDK_CONST:
			*isnull = col->isnull;
			return col->value;
		case TDK_NOW:
			*isnull = false;
			return TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
		case TDK_EXPR:
			return ExecEvalExpr(state, econtext, isnull);
		case TDK_NONE:
			break;
	}
	*isnull = true;
	return (Datum) 0;
}

/*
 * Give each field the tasks left out its column's default, as an INSERT would; then
 * every path (direct or SQL, one task or many) writes the same values. The key is
 * left alone: a task without one gets "taskmill:<id>" (enqueue.c).
 */
void
tm_task_fill_defaults(TmNewTask *tasks, int n)
{
	const TmTaskTable *table = tm_task_table();
	int			fields[TF_COUNT];	/* the fields with a default, in field order */
	const TmColumn *cols[TF_COUNT];
	ExprState  *states[TF_COUNT] = {0};
	ExprContext *econtext = NULL;
	int			nfields = 0;

	for (int f = 0; f < TF_COUNT; f++)
	{
		const TmColumn *col;

		if (!(TF_COLUMNS & TF_BIT(f)) || f == TF_IDEMPOTENCY_KEY)
			continue;
		col = &table->cols[table->field_col[f]];
		if (col->kind == TDK_EXPR)
		{
			if (econtext == NULL)
				econtext = CreateStandaloneExprContext();
			states[nfields] = ExecInitExpr(col->expr, NULL);
		}
		fields[nfields] = f;
		cols[nfields++] = col;
	}
	for (int i = 0; i < n; i++)
		for (int k = 0; k < nfields; k++)
		{
			int			f = fields[k];

			if (tasks[i].isnull[f])
				tasks[i].values[f] = tm_column_default(cols[k], states[k], econtext,
													   &tasks[i].isnull[f]);
		}
	if (econtext != NULL)
		FreeExprContext(econtext, true);
}

/* ---- the INSERT statements ---- */

const char *tm_enqueue_sql[2];
const char *tm_enqueue_plain_sql[2];
const char *tm_enqueue_batch_sql[2];
const char *tm_enqueue_batch_plain_sql[2];

/* "op, payload, ..." of the column fields, each name prefixed with prefix */
static void
append_field_columns(StringInfo s, const char *prefix)
{
	for (int f = 0; f < TF_COUNT; f++)
		if (TF_COLUMNS & TF_BIT(f))
			appendStringInfo(s, ", %s%s", prefix, tm_fields[f].name);
}

/*
 * Build the INSERT statements from tm_fields (called once, from _PG_init). Parameters:
 * $1 queue_name, $2 .. the column fields in TmField order, then the id; the batch
 * form takes one array per field. Each comes in two forms: with ON CONFLICT for
 * callers' keys (enqueue.c says why), and without; and each for this version's table
 * (a task scheduled for later waits: tasks_waiting_idx) and for a 0.1 table.
 */
void
tm_build_enqueue_sql(void)
{
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
	const char *on_conflict =
		" ON CONFLICT (queue_name, idempotency_key) WHERE " TM_KEY_INDEX_PREDICATE
		" DO NOTHING";

	for (int legacy = 0; legacy < 2; legacy++)
	{
		StringInfoData s;
		StringInfoData b;
		int			p = 2;
		const char *waiting = legacy ? "" : ", waiting";

		initStringInfo(&s);
		appendStringInfoString(&s, "INSERT INTO taskmill.tasks (queue_name");
		append_field_columns(&s, "");
		appendStringInfo(&s, ", visible_at%s, id) VALUES ($1", waiting);
		for (int f = 0; f < TF_COUNT; f++)
			if (TF_COLUMNS & TF_BIT(f))
				appendStringInfo(&s, ", $%d", p++);
		appendStringInfo(&s, ", $%d", 2 + TF_SCHEDULED_AT);
		if (!legacy)
			appendStringInfo(&s, ", $%d > pg_catalog.now()", 2 + TF_SCHEDULED_AT);
		appendStringInfo(&s, ", $%d)", p);
		tm_enqueue_plain_sql[legacy] = pstrdup(s.data);
		tm_enqueue_sql[legacy] = psprintf("%s%s", s.data, on_conflict);

		/*
		 * ROWS FROM (unnest(a), unnest(b) ...) is the multi-argument unnest, spelled so
		 * that each unnest can be schema-qualified; it walks the arrays in order, so ids
		 * (drawn in batch order) go in in order.
		 */
		initStringInfo(&b);
		appendStringInfoString(&b, "INSERT INTO taskmill.tasks (queue_name");
		append_field_columns(&b, "");
		appendStringInfo(&b, ", visible_at%s, id) SELECT $1", waiting);
		append_field_columns(&b, "u.");
		appendStringInfo(&b, ", u.%s", tm_fields[TF_SCHEDULED_AT].name);
		if (!legacy)
			appendStringInfo(&b, ", u.%s > pg_catalog.now()", tm_fields[TF_SCHEDULED_AT].name);
		appendStringInfoString(&b, ", u.id FROM ROWS FROM (");
		p = 2;
		for (int f = 0; f < TF_COUNT; f++)
			if (TF_COLUMNS & TF_BIT(f))
				appendStringInfo(&b, "pg_catalog.unnest($%d::%s[]), ", p++, tm_fields[f].type_name);
		appendStringInfo(&b, "pg_catalog.unnest($%d::pg_catalog.int8[])) AS u(", p);
		for (int f = 0; f < TF_COUNT; f++)
			if (TF_COLUMNS & TF_BIT(f))
				appendStringInfo(&b, "%s, ", tm_fields[f].name);
		appendStringInfoString(&b, "id)");
		tm_enqueue_batch_plain_sql[legacy] = pstrdup(b.data);
		/* the keys that went in, to name one that did not */
		tm_enqueue_batch_sql[legacy] = psprintf("%s%s RETURNING idempotency_key", b.data, on_conflict);
	}
	MemoryContextSwitchTo(old);
}
