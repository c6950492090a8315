/*
 * schedules.c
 *		Cron schedules: register_schedules, trigger_schedule and run_due_schedules, which
 *		turns every due schedule into a task exactly once per tick.
 *
 * Exactly once: run_due_schedules locks due rows with FOR UPDATE SKIP LOCKED and moves
 * next_run_at forward in the same transaction as the enqueue, so a second scheduler
 * either skips the row or finds it no longer due.  The tick's idempotency key is a second
 * fence: an enqueue that meets a task already holding it (23505) counts as done.
 */
#include "postgres.h"

#include <math.h>
#include <stdlib.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

#include "cron.h"

#define NAME_MAX_BYTES 255

/* Retries after a failed enqueue: 10 s, 20 s, 40 s ... at most an hour (or the next tick). */
#define RETRY_BASE_SECS 10
#define RETRY_MAX_SECS 3600

/* Enqueue options a schedule may carry, as bits of SchedOptions.present. */
#define OPT_PRIORITY		0x01
#define OPT_MAX_ATTEMPTS	0x02
#define OPT_TASK_GROUP		0x04
#define OPT_EXPIRES_IN		0x08
#define OPT_EPHEMERAL		0x10
#define OPT_META			0x20
#define OPT_KEY				0x40	/* not an option: run_due passes the tick's key */
#define N_ENQUEUE_SHAPES	0x80

typedef struct SchedOptions
{
	int			present;
	int32		priority;
	int32		max_attempts;
	char	   *task_group_id;
	Interval	expires_in;
	bool		ephemeral;
	Jsonb	   *meta;
} SchedOptions;

/* One validated entry of register_schedules' array. */
typedef struct SchedSpec
{
	char	   *operation_id;
	char	   *cron;
	char	   *timezone;
	Jsonb	   *payload;		/* NULL: none */
	Jsonb	   *options;
	TimestampTz next_run_at;
} SchedSpec;

/* A due schedule, copied out of SPI before its enqueue. */
typedef struct DueSchedule
{
	int64		id;
	char	   *queue_name;
	char	   *operation_id;
	char	   *cron;
	char	   *timezone;
	Jsonb	   *payload;
	Jsonb	   *options;
	TimestampTz tick;
	int32		failures;
} DueSchedule;

/* Saved plans, prepared on first use in each backend. */
static SPIPlanPtr enqueue_plans[N_ENQUEUE_SHAPES];
static SPIPlanPtr upsert_plan;
static SPIPlanPtr delete_plan;
static SPIPlanPtr due_plan;
static SPIPlanPtr done_plan;
static SPIPlanPtr failed_plan;
static SPIPlanPtr find_plan;

static SPIPlanPtr
saved_plan(SPIPlanPtr *slot, const char *sql, int nargs, Oid *argtypes)
{
	if (*slot == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare(sql, nargs, argtypes);

		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed for \"%s\": %s", sql,
				 SPI_result_code_string(SPI_result));
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "SPI_keepplan failed");
		*slot = plan;
	}
	return *slot;
}

static void
check_name(const char *value, const char *what)
{
	if (value[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be empty", what)));
	if (strlen(value) > NAME_MAX_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s is too long", what),
				 errdetail("The limit is %d bytes.", NAME_MAX_BYTES)));
}

static char *
required_text_arg(FunctionCallInfo fcinfo, int argno, const char *what)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", what)));
	return text_to_cstring(PG_GETARG_TEXT_PP(argno));
}

static const char *
json_type_name(JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			return "null";
		case jbvString:
			return "a string";
		case jbvNumeric:
			return "a number";
		case jbvBool:
			return "a boolean";
		case jbvBinary:
			return JsonContainerIsObject(v->val.binary.data) ? "an object" : "an array";
		default:
			return "a JSON value";
	}
}

/* A JSON number as a double (never raises: huge values become infinite). */
static double
json_number(JsonbValue *v)
{
	char	   *s = DatumGetCString(DirectFunctionCall1(numeric_out,
														NumericGetDatum(v->val.numeric)));

	return strtod(s, NULL);
}

static int32
option_int(JsonbValue *v, const char *key, int32 min, int32 max)
{
	double		d;

	if (v->type != jbvNumeric)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value for schedule option \"%s\"", key),
				 errdetail("Expected an integer, got %s.", json_type_name(v))));
	d = json_number(v);
	if (!isfinite(d) || d != floor(d) || d < min || d > max)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value for schedule option \"%s\"", key),
				 errdetail("Expected an integer between %d and %d, got %s.", min, max,
						   DatumGetCString(DirectFunctionCall1(numeric_out,
															   NumericGetDatum(v->val.numeric))))));
	return (int32) d;
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
	char	   *copy;

	memset(&itm_in, 0, sizeof(itm_in));
	dterr = ParseDateTime(str, workbuf, sizeof(workbuf), field, ftype, MAXDATEFIELDS, &nf);
	if (dterr == 0)
		dterr = DecodeInterval(field, ftype, nf, INTERVAL_FULL_RANGE, &dtype, &itm_in);
	if (dterr == DTERR_BAD_FORMAT)
	{
		copy = pstrdup(str);
		memset(&itm_in, 0, sizeof(itm_in));
		dterr = DecodeISO8601Interval(copy, &dtype, &itm_in);
	}
	if (dterr != 0 || dtype != DTK_DELTA)
		return false;
	return itmin2interval(&itm_in, result) == 0;
}

static void
option_expires_in(JsonbValue *v, Interval *out)
{
	Interval	zero;

	if (v->type == jbvNumeric)
	{
		double		secs = json_number(v);

		if (!isfinite(secs) || secs <= 0 || secs > 100.0 * 365 * 86400)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid value for schedule option \"expires_in\""),
					 errdetail("Expected a positive number of seconds (at most 100 years).")));
		memset(out, 0, sizeof(*out));
		out->time = (TimeOffset) (secs * USECS_PER_SEC);
	}
	else if (v->type == jbvString)
	{
		char	   *s = pnstrdup(v->val.string.val, v->val.string.len);

		if (!parse_interval_text(s, out))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid value for schedule option \"expires_in\""),
					 errdetail("\"%s\" is not a valid interval.", s)));
	}
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value for schedule option \"expires_in\""),
				 errdetail("Expected an interval such as \"5 minutes\" or a number of seconds, got %s.",
						   json_type_name(v))));
	memset(&zero, 0, sizeof(zero));
	if (!DatumGetBool(DirectFunctionCall2(interval_gt, IntervalPGetDatum(out),
										  IntervalPGetDatum(&zero))))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value for schedule option \"expires_in\""),
				 errdetail("The interval must be positive.")));
}

/*
 * Read an options object into o, on top of what o already holds (so trigger_schedule's
 * overrides can be read over the schedule's own options).  JSON null means "default".
 */
static void
parse_options(JsonbContainer *c, SchedOptions *o)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *key = NULL;

	if (!JsonContainerIsObject(c))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("schedule options must be a JSON object")));
	it = JsonbIteratorInit(c);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			key = pnstrdup(v.val.string.val, v.val.string.len);
			continue;
		}
		if (tok != WJB_VALUE)
			continue;
		if (strcmp(key, "priority") == 0)
		{
			o->present &= ~OPT_PRIORITY;
			if (v.type != jbvNull)
			{
				o->priority = option_int(&v, key, -100, 100);
				o->present |= OPT_PRIORITY;
			}
		}
		else if (strcmp(key, "max_attempts") == 0)
		{
			o->present &= ~OPT_MAX_ATTEMPTS;
			if (v.type != jbvNull)
			{
				o->max_attempts = option_int(&v, key, 1, PG_INT32_MAX);
				o->present |= OPT_MAX_ATTEMPTS;
			}
		}
		else if (strcmp(key, "task_group_id") == 0)
		{
			o->present &= ~OPT_TASK_GROUP;
			if (v.type == jbvString)
			{
				o->task_group_id = pnstrdup(v.val.string.val, v.val.string.len);
				check_name(o->task_group_id, "task_group_id");
				o->present |= OPT_TASK_GROUP;
			}
			else if (v.type != jbvNull)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("invalid value for schedule option \"%s\"", key),
						 errdetail("Expected a string, got %s.", json_type_name(&v))));
		}
		else if (strcmp(key, "expires_in") == 0)
		{
			o->present &= ~OPT_EXPIRES_IN;
			if (v.type != jbvNull)
			{
				option_expires_in(&v, &o->expires_in);
				o->present |= OPT_EXPIRES_IN;
			}
		}
		else if (strcmp(key, "ephemeral") == 0)
		{
			o->present &= ~OPT_EPHEMERAL;
			if (v.type == jbvBool)
			{
				o->ephemeral = v.val.boolean;
				o->present |= OPT_EPHEMERAL;
			}
			else if (v.type != jbvNull)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("invalid value for schedule option \"%s\"", key),
						 errdetail("Expected a boolean, got %s.", json_type_name(&v))));
		}
		else if (strcmp(key, "meta") == 0)
		{
			o->present &= ~OPT_META;
			if (v.type == jbvBinary && JsonContainerIsObject(v.val.binary.data))
			{
				o->meta = JsonbValueToJsonb(&v);
				o->present |= OPT_META;
			}
			else if (v.type != jbvNull)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("invalid value for schedule option \"%s\"", key),
						 errdetail("Expected an object, got %s.", json_type_name(&v))));
		}
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown schedule option \"%s\"", key),
					 errdetail("The options are priority, max_attempts, task_group_id, expires_in, ephemeral and meta.")));
	}
}

/* The enqueue parameters a schedule may pass, in the order of the call's arguments. */
static const struct
{
	int			flag;
	Oid			type;
	const char *param;
}			enqueue_params[] = {
	{OPT_PRIORITY, INT4OID, "priority"},
	{OPT_MAX_ATTEMPTS, INT4OID, "max_attempts"},
	{OPT_TASK_GROUP, TEXTOID, "task_group_id"},
	{OPT_EXPIRES_IN, TIMESTAMPTZOID, "expires_at"},
	{OPT_EPHEMERAL, BOOLOID, "ephemeral"},
	{OPT_META, JSONBOID, "meta"},
	{OPT_KEY, TEXTOID, "idempotency_key"},
};

/* The value of one of those parameters. */
static Datum
enqueue_param_value(int flag, const SchedOptions *o, const char *key)
{
	switch (flag)
	{
		case OPT_PRIORITY:
			return Int32GetDatum(o->priority);
		case OPT_MAX_ATTEMPTS:
			return Int32GetDatum(o->max_attempts);
		case OPT_TASK_GROUP:
			return CStringGetTextDatum(o->task_group_id);
		case OPT_EXPIRES_IN:
			return DirectFunctionCall2(timestamptz_pl_interval,
									   TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()),
									   IntervalPGetDatum(&o->expires_in));
		case OPT_EPHEMERAL:
			return BoolGetDatum(o->ephemeral);
		case OPT_META:
			return JsonbPGetDatum(o->meta);
		case OPT_KEY:
			return CStringGetTextDatum(key);
	}
	elog(ERROR, "taskmill: unknown enqueue option %d", flag);
	return (Datum) 0;			/* keep compiler quiet */
}

/*
 * Enqueue one task through taskmill.enqueue (named notation, so the queue core keeps
 * its own defaults for whatever the schedule leaves out).  One saved plan per shape of
 * the call.  key may be NULL.  Returns the new task's id.
 */
static int64
enqueue_task(const char *queue_name, const char *operation_id, Jsonb *payload,
			 const SchedOptions *o, const char *key)
{
	int			shape = o->present | (key ? OPT_KEY : 0);
	Datum		values[10];
	char		nulls[10];
	Oid			types[10];
	int			n = 0;
	SPIPlanPtr	plan;
	int			rc;
	bool		isnull;
	Datum		id;

	memset(nulls, ' ', sizeof(nulls));
	types[n] = TEXTOID;
	values[n++] = CStringGetTextDatum(queue_name);
	types[n] = TEXTOID;
	values[n++] = CStringGetTextDatum(operation_id);
	types[n] = JSONBOID;
	if (payload)
		values[n] = JsonbPGetDatum(payload);
	else
		nulls[n] = 'n';
	n++;
	for (int i = 0; i < (int) lengthof(enqueue_params); i++)
		if (shape & enqueue_params[i].flag)
		{
			types[n] = enqueue_params[i].type;
			values[n++] = enqueue_param_value(enqueue_params[i].flag, o, key);
		}

	if (enqueue_plans[shape] == NULL)
	{
		StringInfoData sql;
		int			p = 3;

		initStringInfo(&sql);
		appendStringInfoString(&sql,
							   "SELECT taskmill.enqueue(queue_name => $1, operation_id => $2, payload => $3");
		for (int i = 0; i < (int) lengthof(enqueue_params); i++)
			if (shape & enqueue_params[i].flag)
				appendStringInfo(&sql, ", %s => $%d", enqueue_params[i].param, ++p);
		appendStringInfoString(&sql, ")");
		saved_plan(&enqueue_plans[shape], sql.data, n, types);
	}
	plan = enqueue_plans[shape];
	rc = SPI_execute_plan(plan, values, nulls, false, 1);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "taskmill.enqueue returned no row");
	id = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		elog(ERROR, "taskmill.enqueue returned NULL");
	return DatumGetInt64(id);
}

/* The tick's idempotency key: "schedule:<operation_id>@<tick in UTC, ISO 8601>". */
static char *
tick_key(const char *operation_id, TimestampTz tick)
{
	struct pg_tm tm;
	fsec_t		fsec;

	if (timestamp2tm(tick, NULL, &tm, &fsec, NULL, NULL) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range")));
	if (fsec != 0)
		return psprintf("schedule:%s@%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", operation_id,
						tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min,
						tm.tm_sec, (int) fsec);
	return psprintf("schedule:%s@%04d-%02d-%02dT%02d:%02d:%02dZ", operation_id,
					tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* ---------------------------------------------------------------- register_schedules */

static int
spec_cmp(const void *a, const void *b)
{
	return strcmp(((const SchedSpec *) a)->operation_id, ((const SchedSpec *) b)->operation_id);
}

/* Validate one element of the schedules array completely; raises on anything wrong. */
static void
read_spec(JsonbValue *elem, int index, SchedSpec *spec, TimestampTz now)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *key = NULL;
	CronExpr	e;
	pg_tz	   *tz;
	SchedOptions o;

	memset(spec, 0, sizeof(*spec));
	if (elem->type != jbvBinary || !JsonContainerIsObject(elem->val.binary.data))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("schedule %d must be a JSON object", index + 1),
				 errdetail("Got %s.", json_type_name(elem))));
	it = JsonbIteratorInit(elem->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			key = pnstrdup(v.val.string.val, v.val.string.len);
			continue;
		}
		if (tok != WJB_VALUE)
			continue;
		if (strcmp(key, "operation_id") == 0 || strcmp(key, "cron") == 0 ||
			strcmp(key, "timezone") == 0)
		{
			char	   *s;

			if (v.type == jbvNull && strcmp(key, "timezone") == 0)
				continue;
			if (v.type != jbvString)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("\"%s\" of schedule %d must be a string", key, index + 1),
						 errdetail("Got %s.", json_type_name(&v))));
			s = pnstrdup(v.val.string.val, v.val.string.len);
			if (key[0] == 'o')
				spec->operation_id = s;
			else if (key[0] == 'c')
				spec->cron = s;
			else
				spec->timezone = s;
		}
		else if (strcmp(key, "payload") == 0)
		{
			if (v.type != jbvNull)
				spec->payload = JsonbValueToJsonb(&v);
		}
		else if (strcmp(key, "options") == 0)
		{
			if (v.type == jbvNull)
				continue;
			if (v.type != jbvBinary || !JsonContainerIsObject(v.val.binary.data))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("\"options\" of schedule %d must be a JSON object", index + 1),
						 errdetail("Got %s.", json_type_name(&v))));
			spec->options = JsonbValueToJsonb(&v);
		}
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown key \"%s\" in schedule %d", key, index + 1),
					 errdetail("A schedule has operation_id, cron, and optionally timezone, payload and options.")));
	}
	if (spec->operation_id == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("schedule %d has no operation_id", index + 1)));
	check_name(spec->operation_id, "operation_id");
	if (spec->cron == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("schedule \"%s\" has no cron expression", spec->operation_id)));
	if (spec->timezone == NULL)
		spec->timezone = pstrdup("UTC");

	taskmill_cron_parse_or_error(spec->cron, &e);
	tz = taskmill_cron_timezone(spec->timezone);
	memset(&o, 0, sizeof(o));
	if (spec->options)
		parse_options(&spec->options->root, &o);
	else
		spec->options = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum("{}")));
	if (!taskmill_cron_next_time(&e, tz, now, &spec->next_run_at))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cron expression \"%s\" never fires", spec->cron),
				 errdetail("No date matches all of its fields, as with \"0 0 30 2 *\".")));
}

PG_FUNCTION_INFO_V1(taskmill_register_schedules);

/*
 * taskmill.register_schedules(queue_name text, schedules jsonb) RETURNS integer
 *
 * Makes the queue's schedules exactly the given list: validates every entry first (all or
 * nothing), upserts them by operation_id and deletes the queue's others.  An entry whose
 * cron and time zone did not change keeps its next_run_at, so re-registering at every
 * application start never drops a tick that is due but not yet run.
 */
Datum
taskmill_register_schedules(PG_FUNCTION_ARGS)
{
	char	   *queue_name = required_text_arg(fcinfo, 0, "queue_name");
	Jsonb	   *schedules;
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	SchedSpec  *specs;
	int			nspecs = 0;
	int			cap = 8;
	Datum	   *ids;
	ArrayType  *id_array;
	int			rc;

	check_name(queue_name, "queue_name");
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("schedules must not be null")));
	schedules = PG_GETARG_JSONB_P(1);
	if (!JB_ROOT_IS_ARRAY(schedules) || JB_ROOT_IS_SCALAR(schedules))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("schedules must be a JSON array")));

	specs = palloc(sizeof(SchedSpec) * cap);
	it = JsonbIteratorInit(&schedules->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok != WJB_ELEM)
			continue;
		if (nspecs == cap)
		{
			cap *= 2;
			specs = repalloc(specs, sizeof(SchedSpec) * cap);
		}
		read_spec(&v, nspecs, &specs[nspecs], now);
		nspecs++;
	}
	if (nspecs > 1)
		qsort(specs, nspecs, sizeof(SchedSpec), spec_cmp);
	for (int i = 1; i < nspecs; i++)
		if (strcmp(specs[i - 1].operation_id, specs[i].operation_id) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("operation_id \"%s\" appears more than once in schedules",
							specs[i].operation_id)));

	SPI_connect();

	/*
	 * Serialise registrations of one queue: two of them upserting and deleting the
	 * same rows in different orders could otherwise deadlock.  Schedulers never take
	 * this lock, and they skip rows a registration holds.
	 */
	{
		Oid			types[1] = {TEXTOID};
		Datum		vals[1] = {CStringGetTextDatum(queue_name)};

		rc = SPI_execute_with_args("SELECT pg_catalog.pg_advisory_xact_lock(1953330019, pg_catalog.hashtext($1))",
								   1, types, vals, NULL, false, 1);
		if (rc != SPI_OK_SELECT)
			elog(ERROR, "advisory lock failed");
	}

	ids = palloc(sizeof(Datum) * (nspecs > 0 ? nspecs : 1));
	for (int i = 0; i < nspecs; i++)
	{
		Oid			types[7] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, JSONBOID, JSONBOID, TIMESTAMPTZOID};
		Datum		vals[7];
		char		nulls[7] = {' ', ' ', ' ', ' ', ' ', ' ', ' '};
		SchedSpec  *s = &specs[i];

		vals[0] = CStringGetTextDatum(queue_name);
		vals[1] = CStringGetTextDatum(s->operation_id);
		vals[2] = CStringGetTextDatum(s->cron);
		vals[3] = CStringGetTextDatum(s->timezone);
		if (s->payload)
			vals[4] = JsonbPGetDatum(s->payload);
		else
			nulls[4] = 'n';
		vals[5] = JsonbPGetDatum(s->options);
		vals[6] = TimestampTzGetDatum(s->next_run_at);
		ids[i] = vals[1];
		rc = SPI_execute_plan(saved_plan(&upsert_plan,
										 "INSERT INTO taskmill.task_schedules AS s"
										 " (queue_name, operation_id, cron, timezone, payload, options, next_run_at)"
										 " VALUES ($1, $2, $3, $4, $5, $6, $7)"
										 " ON CONFLICT (queue_name, operation_id) DO UPDATE SET"
										 " cron = excluded.cron, timezone = excluded.timezone,"
										 " payload = excluded.payload, options = excluded.options,"
										 " next_run_at = CASE WHEN s.cron = excluded.cron"
										 "  AND s.timezone = excluded.timezone AND s.next_run_at IS NOT NULL"
										 "  THEN s.next_run_at ELSE excluded.next_run_at END,"
										 " consecutive_failures = CASE WHEN s.cron = excluded.cron"
										 "  AND s.timezone = excluded.timezone"
										 "  AND s.payload IS NOT DISTINCT FROM excluded.payload"
										 "  AND s.options = excluded.options"
										 "  THEN s.consecutive_failures ELSE 0 END,"
										 " updated_at = pg_catalog.now()",
										 7, types),
							  vals, nulls, false, 0);
		if (rc != SPI_OK_INSERT)
			elog(ERROR, "schedule upsert failed: %s", SPI_result_code_string(rc));
	}

	id_array = construct_array(ids, nspecs, TEXTOID, -1, false, TYPALIGN_INT);
	{
		Oid			types[2] = {TEXTOID, TEXTARRAYOID};
		Datum		vals[2] = {CStringGetTextDatum(queue_name), PointerGetDatum(id_array)};

		rc = SPI_execute_plan(saved_plan(&delete_plan,
										 "DELETE FROM taskmill.task_schedules"
										 " WHERE queue_name = $1 AND operation_id <> ALL ($2)",
										 2, types),
							  vals, NULL, false, 0);
		if (rc != SPI_OK_DELETE)
			elog(ERROR, "schedule cleanup failed: %s", SPI_result_code_string(rc));
	}
	SPI_finish();
	PG_RETURN_INT32(nspecs);
}

/* ---------------------------------------------------------------- trigger_schedule */

PG_FUNCTION_INFO_V1(taskmill_trigger_schedule);

/*
 * taskmill.trigger_schedule(operation_id text, options jsonb DEFAULT NULL,
 *							 queue_name text DEFAULT NULL) RETURNS bigint
 *
 * Enqueues the schedule's task now, outside its cadence (next_run_at is left alone);
 * options override the schedule's own.  The task gets a fresh idempotency key.
 */
Datum
taskmill_trigger_schedule(PG_FUNCTION_ARGS)
{
	char	   *operation_id = required_text_arg(fcinfo, 0, "operation_id");
	Jsonb	   *overrides = PG_ARGISNULL(1) ? NULL : PG_GETARG_JSONB_P(1);
	char	   *queue_name = PG_ARGISNULL(2) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(2));
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		vals[2];
	char		nulls[2] = {' ', ' '};
	SchedOptions o;
	char	   *queue;
	Jsonb	   *payload = NULL;
	Jsonb	   *options;
	bool		isnull;
	Datum		d;
	int64		id;
	int			rc;
	MemoryContext callercxt = CurrentMemoryContext;

	memset(&o, 0, sizeof(o));
	/* JSON null, like SQL NULL, means no overrides */
	if (overrides && JB_ROOT_IS_SCALAR(overrides))
	{
		JsonbValue	scalar;

		if (JsonbExtractScalar(&overrides->root, &scalar) && scalar.type == jbvNull)
			overrides = NULL;
	}
	if (overrides && (!JB_ROOT_IS_OBJECT(overrides) || JB_ROOT_IS_SCALAR(overrides)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("schedule options must be a JSON object")));

	SPI_connect();
	vals[0] = CStringGetTextDatum(operation_id);
	if (queue_name)
		vals[1] = CStringGetTextDatum(queue_name);
	else
		nulls[1] = 'n';
	rc = SPI_execute_plan(saved_plan(&find_plan,
									 "SELECT queue_name, payload, options FROM taskmill.task_schedules"
									 " WHERE operation_id = $1 AND ($2::text IS NULL OR queue_name = $2)"
									 " LIMIT 2",
									 2, types),
						  vals, nulls, true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "schedule lookup failed: %s", SPI_result_code_string(rc));
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("schedule \"%s\" does not exist", operation_id)));
	if (SPI_processed > 1)
		ereport(ERROR,
				(errcode(ERRCODE_TOO_MANY_ROWS),
				 errmsg("schedule \"%s\" exists in more than one queue", operation_id),
				 errhint("Pass queue_name to choose one.")));
	queue = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
	if (!isnull)
		payload = DatumGetJsonbPCopy(d);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull);
	options = DatumGetJsonbPCopy(d);

	parse_options(&options->root, &o);
	if (overrides)
		parse_options(&overrides->root, &o);
	id = enqueue_task(queue, operation_id, payload, &o, NULL);
	SPI_finish();
	MemoryContextSwitchTo(callercxt);
	PG_RETURN_INT64(id);
}

/* ---------------------------------------------------------------- run_due_schedules */

/* The next tick after now, or false if the schedule has none (or cannot be read). */
static bool
next_tick(const char *cron, const char *timezone, TimestampTz now, TimestampTz *next)
{
	CronExpr	e;
	char		detail[CRON_DETAIL_LEN];
	pg_tz	   *tz;

	if (!cron_parse(cron, &e, detail, sizeof(detail)))
		return false;
	tz = pg_tzset(timezone);
	if (tz == NULL)
		return false;
	return taskmill_cron_next_time(&e, tz, now, next);
}

/*
 * Enqueue every due schedule once and move it on; see the file header for why this is
 * exactly once.  Each enqueue runs in its own subtransaction, so a schedule whose
 * options no longer pass validation fails alone: it records the error and a retry time
 * (backoff, never later than its next tick) and the others go on.  A tick that finds its
 * task already there (same idempotency key) counts as done.  Missed ticks (downtime)
 * give one run: next_run_at moves to the first tick after now, not after the old one.
 * Returns how many tasks were enqueued.
 */
int
taskmill_run_due(void)
{
	MemoryContext workcxt;
	MemoryContext oldcxt;
	DueSchedule *due;
	uint64		ndue;
	volatile int enqueued = 0;
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	int			rc;

	workcxt = AllocSetContextCreate(CurrentMemoryContext, "taskmill run_due_schedules",
									ALLOCSET_DEFAULT_SIZES);
	SPI_connect();
	rc = SPI_execute_plan(saved_plan(&due_plan,
									 "SELECT id, queue_name, operation_id, cron, timezone, payload,"
									 " options, next_run_at, consecutive_failures"
									 " FROM taskmill.task_schedules"
									 " WHERE next_run_at <= pg_catalog.now()"
									 " ORDER BY next_run_at, id"
									 " FOR UPDATE SKIP LOCKED",
									 0, NULL),
						  NULL, NULL, false, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "due schedule scan failed: %s", SPI_result_code_string(rc));

	ndue = SPI_processed;
	oldcxt = MemoryContextSwitchTo(workcxt);
	due = palloc0(sizeof(DueSchedule) * (ndue > 0 ? ndue : 1));
	for (uint64 i = 0; i < ndue; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		Datum		d;

		due[i].id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		due[i].queue_name = SPI_getvalue(tup, desc, 2);
		due[i].operation_id = SPI_getvalue(tup, desc, 3);
		due[i].cron = SPI_getvalue(tup, desc, 4);
		due[i].timezone = SPI_getvalue(tup, desc, 5);
		d = SPI_getbinval(tup, desc, 6, &isnull);
		due[i].payload = isnull ? NULL : DatumGetJsonbPCopy(d);
		d = SPI_getbinval(tup, desc, 7, &isnull);
		due[i].options = DatumGetJsonbPCopy(d);
		due[i].tick = DatumGetTimestampTz(SPI_getbinval(tup, desc, 8, &isnull));
		due[i].failures = DatumGetInt32(SPI_getbinval(tup, desc, 9, &isnull));
	}
	MemoryContextSwitchTo(oldcxt);

	for (uint64 i = 0; i < ndue; i++)
	{
		DueSchedule *s = &due[i];
		MemoryContext loopcxt = CurrentMemoryContext;
		ResourceOwner oldowner = CurrentResourceOwner;
		const char *volatile status = "enqueued";
		char	   *volatile error = NULL;
		volatile int64 task_id = 0;
		volatile bool have_task = false;
		volatile TimestampTz next = 0;
		volatile bool have_next = false;

		CHECK_FOR_INTERRUPTS();

		BeginInternalSubTransaction(NULL);
		MemoryContextSwitchTo(loopcxt);
		PG_TRY();
		{
			CronExpr	e;
			pg_tz	   *tz;
			SchedOptions o;
			TimestampTz t;

			taskmill_cron_parse_or_error(s->cron, &e);
			tz = taskmill_cron_timezone(s->timezone);
			have_next = taskmill_cron_next_time(&e, tz, now, &t);
			next = t;
			memset(&o, 0, sizeof(o));
			parse_options(&s->options->root, &o);
			task_id = enqueue_task(s->queue_name, s->operation_id, s->payload, &o,
								   tick_key(s->operation_id, s->tick));
			have_task = true;

			ReleaseCurrentSubTransaction();
			MemoryContextSwitchTo(loopcxt);
			CurrentResourceOwner = oldowner;
		}
		PG_CATCH();
		{
			ErrorData  *edata;

			MemoryContextSwitchTo(workcxt);
			edata = CopyErrorData();
			FlushErrorState();
			RollbackAndReleaseCurrentSubTransaction();
			MemoryContextSwitchTo(loopcxt);
			CurrentResourceOwner = oldowner;

			/* A cancel or shutdown request must stop the whole run. */
			if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED ||
				edata->sqlerrcode == ERRCODE_ADMIN_SHUTDOWN)
				ReThrowError(edata);

			if (edata->sqlerrcode == ERRCODE_UNIQUE_VIOLATION)
			{
				/* this tick's task is already there: done, not failed */
				TimestampTz t = 0;

				status = "duplicate";
				have_next = next_tick(s->cron, s->timezone, now, &t);
				next = t;
			}
			else
			{
				TimestampTz retry;
				TimestampTz t = 0;
				int			shift = s->failures < 16 ? s->failures : 16;
				int64		delay = (int64) RETRY_BASE_SECS << shift;

				if (delay > RETRY_MAX_SECS)
					delay = RETRY_MAX_SECS;
				retry = now + delay * USECS_PER_SEC;
				if (!next_tick(s->cron, s->timezone, now, &t) || retry < t)
					t = retry;
				next = t;
				have_task = false;
				have_next = true;
				status = "failed";
				error = edata->message ? edata->message : "unknown error";
				if (edata->detail)
					error = psprintf("%s: %s", error, edata->detail);
			}
		}
		PG_END_TRY();

		{
			Oid			types[5] = {INT8OID, TIMESTAMPTZOID, TEXTOID, TEXTOID, INT8OID};
			Datum		vals[5];
			char		nulls[5] = {' ', ' ', ' ', ' ', ' '};
			bool		failed = (error != NULL);

			vals[0] = Int64GetDatum(s->id);
			if (have_next)
				vals[1] = TimestampTzGetDatum(next);
			else
				nulls[1] = 'n';
			vals[2] = CStringGetTextDatum(status);
			if (failed)
				vals[3] = CStringGetTextDatum(error);
			else
				nulls[3] = 'n';
			if (have_task)
				vals[4] = Int64GetDatum(task_id);
			else
				nulls[4] = 'n';
			if (failed)
				rc = SPI_execute_plan(saved_plan(&failed_plan,
												 "UPDATE taskmill.task_schedules SET next_run_at = $2,"
												 " last_run_at = pg_catalog.now(), last_status = $3, last_error = $4,"
												 " consecutive_failures = consecutive_failures + 1,"
												 " updated_at = pg_catalog.now()"
												 " WHERE id = $1",
												 5, types),
									  vals, nulls, false, 0);
			else
				rc = SPI_execute_plan(saved_plan(&done_plan,
												 "UPDATE taskmill.task_schedules SET next_run_at = $2,"
												 " last_run_at = pg_catalog.now(), last_status = $3, last_error = $4,"
												 " last_task_id = coalesce($5, last_task_id),"
												 " consecutive_failures = 0, updated_at = pg_catalog.now()"
												 " WHERE id = $1",
												 5, types),
									  vals, nulls, false, 0);
			if (rc != SPI_OK_UPDATE)
				elog(ERROR, "schedule update failed: %s", SPI_result_code_string(rc));
		}
		if (have_task)
			enqueued++;
	}
	SPI_finish();
	MemoryContextDelete(workcxt);
	return enqueued;
}

PG_FUNCTION_INFO_V1(taskmill_run_due_schedules);

/* taskmill.run_due_schedules() RETURNS integer: how many tasks it enqueued. */
Datum
taskmill_run_due_schedules(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(taskmill_run_due());
}
