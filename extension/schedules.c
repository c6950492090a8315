/*
 * schedules.c
 *		Cron schedules: register_schedules and trigger_schedule, and the enqueue of a
 *		schedule's task that they share with run_due_schedules (run_due.c).
 *
 * A schedule's task goes in through tm_enqueue_tasks, the C path of enqueue and
 * enqueue_batch; its options are task fields read by the same table (task_fields.c),
 * so a schedule accepts exactly the values enqueue accepts. Each schedule records its
 * owner, the role that registered it: run_due_schedules enqueues its ticks with that
 * role's rights (docs/schedules.md).
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "cron.h"
#include "lock_keys.h"
#include "privileges.h"
#include "schedules.h"
#include "taskmill.h"

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

/* Saved plans, prepared on first use in each backend (plans.c). */
static SPIPlanPtr upsert_plan;
static SPIPlanPtr upsert_0_1_plan;
static SPIPlanPtr delete_plan;
static SPIPlanPtr find_plan;

/* $1 queue_name, $2 the operation ids kept */
static const char *const delete_sql =
"DELETE FROM taskmill.task_schedules"
" WHERE queue_name OPERATOR(pg_catalog.=) $1"
" AND NOT (operation_id OPERATOR(pg_catalog.=) ANY ($2))";

/* $1 operation_id, $2 queue_name or NULL */
static const char *const find_sql =
"SELECT queue_name, payload, options FROM taskmill.task_schedules"
" WHERE operation_id OPERATOR(pg_catalog.=) $1"
" AND ($2 IS NULL OR queue_name OPERATOR(pg_catalog.=) $2)"
" ORDER BY queue_name";

/* ---------------------------------------------------------------- the task */

int64
tm_schedule_enqueue(const char *queue_name, const char *operation_id, Jsonb *payload,
					Jsonb *options, Jsonb *overrides, const char *key)
{
	TmNewTask	t;
	TmOwnerScope scope;
	int64		id;

	tm_task_init(&t);
	tm_task_set(&t, TF_OPERATION_ID, CStringGetTextDatum(operation_id), false);
	tm_task_set(&t, TF_PAYLOAD, PointerGetDatum(payload), payload == NULL);
	if (!JB_ROOT_IS_OBJECT(options))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("schedule options must be a JSON object")));
	tm_task_read_json(&t, &options->root, TF_SCHEDULE_OPTIONS, "schedule options");
	if (overrides != NULL)
		tm_task_read_json(&t, &overrides->root, TF_SCHEDULE_OPTIONS, "schedule options");
	tm_task_check(&t);
	/* the tick's key, in the namespace callers may not write (so set past the check) */
	if (key != NULL)
	{
		t.values[TF_IDEMPOTENCY_KEY] = CStringGetTextDatum(key);
		t.isnull[TF_IDEMPOTENCY_KEY] = false;
	}
	/*
	 * With the produce right of current_user (a tick: the schedule's owner, run_due.c;
	 * trigger_schedule: the extension owner, after definer.c checked the caller's manage
	 * right); the task goes in as the extension owner (docs/security.md).
	 */
	tm_require_queue_right(GetUserId(), queue_name, strlen(queue_name), TM_RIGHT_PRODUCE);
	tm_owner_begin(&scope);
	id = tm_enqueue_tasks(cstring_to_text(queue_name), &t, 1)[0];
	tm_notify_queue_if_waiting(queue_name);
	tm_owner_end(&scope);
	return id;
}

char *
tm_schedule_tick_key(const char *operation_id, TimestampTz tick)
{
	struct pg_tm tm;
	fsec_t		fsec;

	if (timestamp2tm(tick, NULL, &tm, &fsec, NULL, NULL) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range")));
	if (fsec != 0)
		return psprintf(TM_SCHEDULE_KEY_PREFIX "%s@%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", operation_id,
						tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min,
						tm.tm_sec, (int) fsec);
	return psprintf(TM_SCHEDULE_KEY_PREFIX "%s@%04d-%02d-%02dT%02d:%02d:%02dZ", operation_id,
					tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* ---------------------------------------------------------------- register_schedules */

/* The keys of a schedule object, in the order of SchedSpec's first fields. */
enum
{
	SK_OPERATION_ID, SK_CRON, SK_TIMEZONE, SK_PAYLOAD, SK_OPTIONS, SK_COUNT
};
static const char *const spec_keys[SK_COUNT] = {
	"operation_id", "cron", "timezone", "payload", "options"
};

static int
spec_cmp(const void *a, const void *b)
{
	return strcmp(((const SchedSpec *) a)->operation_id, ((const SchedSpec *) b)->operation_id);
}

/* Store the value of key k (a string, payload or options) of schedule index. */
static void
read_spec_value(SchedSpec *spec, int k, JsonbValue *v, int index)
{
	bool		is_array = v->type == jbvBinary && JsonContainerIsArray(v->val.binary.data);
	char	   *s;

	if (k == SK_PAYLOAD || v->type == jbvNull)
	{
		if (v->type != jbvNull)
			spec->payload = JsonbValueToJsonb(v);
		else if (k != SK_TIMEZONE && k != SK_OPTIONS && k != SK_PAYLOAD)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("\"%s\" of schedule %d must be a string", spec_keys[k], index + 1),
					 errdetail("The value given is a JSON null.")));
		return;
	}
	if (k == SK_OPTIONS)
	{
		if (v->type != jbvBinary || is_array)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("\"options\" of schedule %d must be a JSON object", index + 1),
					 errdetail("The value given is a JSON %s.", tm_json_type_name(v->type, is_array))));
		spec->options = JsonbValueToJsonb(v);
		return;
	}
	if (v->type != jbvString)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"%s\" of schedule %d must be a string", spec_keys[k], index + 1),
				 errdetail("The value given is a JSON %s.", tm_json_type_name(v->type, is_array))));
	s = pnstrdup(v->val.string.val, v->val.string.len);
	if (k == SK_OPERATION_ID)
		spec->operation_id = s;
	else if (k == SK_CRON)
		spec->cron = s;
	else
		spec->timezone = s;
}

/* Validate one element of the schedules array completely; raises on anything wrong. */
static void
read_spec(JsonbValue *elem, int index, SchedSpec *spec, TimestampTz now)
{
	bool		is_array = elem->type == jbvBinary && JsonContainerIsArray(elem->val.binary.data);
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			k = SK_COUNT;
	CronExpr	e;

	memset(spec, 0, sizeof(*spec));
	if (elem->type != jbvBinary || is_array)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("schedule %d must be a JSON object", index + 1),
				 errdetail("The value given is a JSON %s.", tm_json_type_name(elem->type, is_array))));
	it = JsonbIteratorInit(elem->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_VALUE)
			read_spec_value(spec, k, &v, index);
		if (tok != WJB_KEY)
			continue;
		for (k = 0; k < SK_COUNT; k++)
			if (strlen(spec_keys[k]) == v.val.string.len &&
				memcmp(spec_keys[k], v.val.string.val, v.val.string.len) == 0)
				break;
		if (k == SK_COUNT)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown key \"%s\" in schedule %d",
							tm_quote(v.val.string.val, v.val.string.len), index + 1),
					 errdetail("A schedule has operation_id, cron, and optionally timezone, payload and options.")));
	}
	if (spec->operation_id == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("schedule %d has no operation_id", index + 1)));
	tm_check_name(spec->operation_id, strlen(spec->operation_id), "operation id");
	if (spec->cron == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("schedule \"%s\" has no cron expression", spec->operation_id)));
	if (spec->timezone == NULL)
		spec->timezone = pstrdup("UTC");
	if (spec->options == NULL)
		spec->options = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum("{}")));

	taskmill_cron_parse_or_error(spec->cron, &e);
	if (!taskmill_cron_next_time(&e, taskmill_cron_timezone(spec->timezone), now,
								 &spec->next_run_at))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cron expression \"%s\" never fires",
						tm_quote(spec->cron, strlen(spec->cron))),
				 errdetail("No date matches all of its fields, as with \"0 0 30 2 *\".")));
	/* the options must make a valid task, as they will at each tick */
	{
		TmNewTask	t;

		tm_task_init(&t);
		tm_task_set(&t, TF_OPERATION_ID, CStringGetTextDatum(spec->operation_id), false);
		tm_task_set(&t, TF_PAYLOAD, PointerGetDatum(spec->payload), spec->payload == NULL);
		tm_task_read_json(&t, &spec->options->root, TF_SCHEDULE_OPTIONS, "schedule options");
		tm_task_check(&t);
	}
}

/* Every element of the array, validated, sorted by operation_id, no duplicates. */
static SchedSpec *
read_specs(Jsonb *schedules, int *nspecs)
{
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	int			n;
	SchedSpec  *specs;

	if (!JB_ROOT_IS_ARRAY(schedules) || JB_ROOT_IS_SCALAR(schedules))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("schedules must be a JSON array")));
	n = JB_ROOT_COUNT(schedules);
	tm_check_count("schedules", n, tm_max_enqueue_batch, "taskmill.max_enqueue_batch");
	/* the list is the queue's whole set: this bounds the schedules of a queue */
	if (n > tm_max_schedules_per_queue)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many schedules for one queue"),
				 errdetail("The list has %d schedules; taskmill.max_schedules_per_queue allows %d.",
						   n, tm_max_schedules_per_queue)));
	specs = palloc(sizeof(SchedSpec) * Max(n, 1));
	for (int i = 0; i < n; i++)
		read_spec(getIthJsonbValueFromContainer(&schedules->root, i), i, &specs[i], now);
	if (n > 1)
		qsort(specs, n, sizeof(SchedSpec), spec_cmp);
	for (int i = 1; i < n; i++)
		if (strcmp(specs[i - 1].operation_id, specs[i].operation_id) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("operation_id \"%s\" appears more than once in schedules",
							specs[i].operation_id)));
	*nspecs = n;
	return specs;
}

/*
 * Serialise registrations of one queue: two of them upserting and deleting the same
 * rows in different orders could otherwise deadlock. Schedulers never take this lock,
 * and they skip rows a registration holds.
 */
static void
lock_queue_schedules(const char *queue_name)
{
	LOCKTAG		tag;

	tm_queue_lock_tag(&tag, "schedules", queue_name, strlen(queue_name),
					  TM_LOCK_KIND_SCHEDULES);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
}

/*
 * Does taskmill.task_schedules have its owner column? Not before ALTER EXTENSION UPDATE
 * to 0.2 (this library also serves 0.1's SQL): there schedules keep 0.1's behaviour.
 */
bool
tm_schedules_have_owner(void)
{
	Oid			relid = get_relname_relid("task_schedules", get_namespace_oid("taskmill", false));

	return OidIsValid(relid) && get_attnum(relid, "owner") != InvalidAttrNumber;
}

#define UPSERT_SQL(owner_column, owner_param, owner_update) \
	"INSERT INTO taskmill.task_schedules AS s" \
	" (queue_name, operation_id, cron, timezone, payload, options, next_run_at" owner_column ")" \
	" VALUES ($1, $2, $3, $4, $5, $6, $7" owner_param ")" \
	" ON CONFLICT (queue_name, operation_id) DO UPDATE SET" \
	" cron = excluded.cron, timezone = excluded.timezone," \
	" payload = excluded.payload, options = excluded.options," owner_update \
	" next_run_at = CASE WHEN s.cron OPERATOR(pg_catalog.=) excluded.cron" \
	"  AND s.timezone OPERATOR(pg_catalog.=) excluded.timezone" \
	"  AND s.next_run_at IS NOT NULL" \
	"  THEN s.next_run_at ELSE excluded.next_run_at END," \
	" consecutive_failures = CASE WHEN s.cron OPERATOR(pg_catalog.=) excluded.cron" \
	"  AND s.timezone OPERATOR(pg_catalog.=) excluded.timezone" \
	"  AND (s.payload OPERATOR(pg_catalog.=) excluded.payload" \
	"       OR (s.payload IS NULL AND excluded.payload IS NULL))" \
	"  AND s.options OPERATOR(pg_catalog.=) excluded.options" \
	"  THEN s.consecutive_failures ELSE 0 END," \
	" updated_at = pg_catalog.now()"

/*
 * Upsert one schedule, owned by the current user. An entry whose cron and time zone
 * did not change keeps its next_run_at (a due tick is not dropped), and its failure
 * count unless its task changed.
 */
static void
upsert_spec(const char *queue_name, const SchedSpec *s, bool with_owner)
{
	Oid			types[8] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, JSONBOID, JSONBOID,
	TIMESTAMPTZOID, TEXTOID};
	Datum		vals[8];
	char		nulls[8] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
	SPIPlanPtr	plan;

	vals[0] = CStringGetTextDatum(queue_name);
	vals[1] = CStringGetTextDatum(s->operation_id);
	vals[2] = CStringGetTextDatum(s->cron);
	vals[3] = CStringGetTextDatum(s->timezone);
	vals[4] = PointerGetDatum(s->payload);
	if (s->payload == NULL)
		nulls[4] = 'n';
	vals[5] = JsonbPGetDatum(s->options);
	vals[6] = TimestampTzGetDatum(s->next_run_at);
	/* the caller, not the extension owner this function runs as (definer.c) */
	vals[7] = CStringGetTextDatum(GetUserNameFromId(tm_calling_user(), false));
	plan = with_owner
		? tm_plan(&upsert_plan, UPSERT_SQL(", owner", ", $8", " owner = excluded.owner,"), 8, types)
		: tm_plan(&upsert_0_1_plan, UPSERT_SQL("", "", ""), 7, types);
	tm_spi_run(plan, vals, nulls, false, 0, SPI_OK_INSERT, "schedule upsert");
}

/* Delete the queue's schedules whose operation_id is not among the n kept. */
static void
delete_others(const char *queue_name, const SchedSpec *specs, int n)
{
	Oid			types[2] = {TEXTOID, TEXTARRAYOID};
	Datum		vals[2];
	Datum	   *ids = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		ids[i] = CStringGetTextDatum(specs[i].operation_id);
	vals[0] = CStringGetTextDatum(queue_name);
	vals[1] = PointerGetDatum(construct_array(ids, n, TEXTOID, -1, false, TYPALIGN_INT));
	tm_spi_run(tm_plan(&delete_plan, delete_sql, 2, types), vals, NULL, false, 0,
			   SPI_OK_DELETE, "schedule cleanup");
}


/*
 * taskmill.register_schedules(queue_name text, schedules jsonb) RETURNS integer
 *
 * Makes the queue's schedules exactly the given list: validates every entry first (all or
 * nothing), upserts them by operation_id and deletes the queue's others. The caller
 * becomes the owner of every schedule of the list.
 */
Datum
tm_body_register_schedules(PG_FUNCTION_ARGS)
{
	text	   *queue = tm_arg_name(fcinfo, 0, "queue name");
	char	   *queue_name = text_to_cstring(queue);
	SchedSpec  *specs;
	int			nspecs;
	bool		with_owner;

	tm_require_arg(fcinfo, 1, "schedules");
	specs = read_specs(PG_GETARG_JSONB_P(1), &nspecs);

	with_owner = tm_schedules_have_owner();
	lock_queue_schedules(queue_name);
	tm_spi_connect();
	for (int i = 0; i < nspecs; i++)
		upsert_spec(queue_name, &specs[i], with_owner);
	delete_others(queue_name, specs, nspecs);
	SPI_finish();
	PG_RETURN_INT32(nspecs);
}

/* ---------------------------------------------------------------- trigger_schedule */


/*
 * taskmill.trigger_schedule(operation_id text, options jsonb DEFAULT NULL,
 *							 queue_name text DEFAULT NULL) RETURNS bigint
 *
 * Enqueues the schedule's task now, outside its cadence (next_run_at is left alone),
 * with the caller's rights; options override the schedule's own. The task gets a
 * fresh idempotency key.
 */
Datum
tm_body_trigger_schedule(PG_FUNCTION_ARGS)
{
	text	   *operation = tm_arg_name(fcinfo, 0, "operation id");
	Jsonb	   *overrides = PG_ARGISNULL(1) ? NULL : PG_GETARG_JSONB_P(1);
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		vals[2] = {PointerGetDatum(operation), PG_ARGISNULL(2) ? (Datum) 0 : PG_GETARG_DATUM(2)};
	char		nulls[2] = {' ', PG_ARGISNULL(2) ? 'n' : ' '};
	char	   *operation_id = text_to_cstring(operation);
	char	   *queue = NULL;
	Jsonb	   *payload = NULL;
	Jsonb	   *options;
	bool		isnull;
	Datum		d;
	int64		id;
	int64		row = -1;
	Oid			caller = tm_calling_user();

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

	tm_spi_connect();
	tm_spi_run(tm_plan(&find_plan, find_sql, 2, types), vals, nulls, true, 0,
			   SPI_OK_SELECT, "schedule lookup");

	/*
	 * Only the schedules of queues the caller manages count: one of a queue it may not
	 * manage is answered as a missing one, so that the answer tells nothing of other
	 * queues' schedules (docs/security.md, "Scheduler").
	 */
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		char	   *q = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);

		if (!tm_has_queue_right(caller, q, strlen(q), TM_RIGHT_MANAGE))
			continue;
		if (row >= 0)
			ereport(ERROR,
					(errcode(ERRCODE_TOO_MANY_ROWS),
					 errmsg("schedule \"%s\" exists in more than one queue",
							tm_quote(operation_id, strlen(operation_id))),
					 errhint("Pass queue_name to choose one.")));
		row = (int64) i;
		queue = q;
	}
	if (row < 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("schedule \"%s\" does not exist",
						tm_quote(operation_id, strlen(operation_id))),
				 errhint("Only the schedules of queues you manage can be triggered.")));
	d = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, 2, &isnull);
	if (!isnull)
		payload = DatumGetJsonbPCopy(d);
	options = DatumGetJsonbPCopy(SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, 3, &isnull));
	/* before SPI_finish, which frees the copies */
	id = tm_schedule_enqueue(queue, operation_id, payload, options, overrides, NULL);
	SPI_finish();
	PG_RETURN_INT64(id);
}
