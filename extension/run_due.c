/*
 * run_due.c
 *		run_due_schedules: every due schedule becomes a task exactly once per tick. The
 *		scheduler background worker (bgworker.c) runs the same code.
 *
 * Exactly once: the due rows are locked with FOR UPDATE SKIP LOCKED and next_run_at moves
 * forward in the same transaction as the enqueue, so a second scheduler either skips
 * the row or finds it no longer due. The tick's idempotency key is a second fence: an
 * enqueue that meets a task already holding it (23505) counts as done.
 *
 * Safe whoever runs it, the superuser background worker included (docs/schedules.md):
 *  - search_path is pinned to "pg_catalog, pg_temp" for the whole run (as autovacuum
 *    pins it) and every operator of its SQL is qualified, so no function or operator a
 *    user created is picked by name;
 *  - each schedule's task is enqueued with the rights of the schedule's owner (the role
 *    that registered it), switched to as a SECURITY DEFINER function is: table
 *    privileges and row-level security apply to the owner, never to the runner;
 *  - each step of one schedule runs in a subtransaction of its own, lock waits are
 *    bounded (taskmill.scheduler_lock_timeout) and the failure count saturates, so a
 *    schedule's row can fail only that schedule; the others go on.
 */
#include "postgres.h"

#include <limits.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

#include "bgworker.h"
#include "cron.h"
#include "privileges.h"
#include "schedules.h"
#include "taskmill.h"

/* Retries after a failed enqueue: 10 s, 20 s, 40 s ... at most an hour (or the next tick). */
#define RETRY_BASE_SECS 10
#define RETRY_MAX_SECS 3600

/* Longest error text kept in last_error. */
#define LAST_ERROR_MAX_BYTES 1024

/* A due schedule, copied out of SPI before its enqueue. */
typedef struct DueSchedule
{
	int64		id;
	char	   *queue_name;
	char	   *operation_id;
	char	   *cron;
	char	   *timezone;
	char	   *owner;
	Jsonb	   *payload;
	Jsonb	   *options;
	TimestampTz tick;
	int32		failures;
} DueSchedule;

/* What one run did with a schedule, for its row. */
typedef struct TickOutcome
{
	const DueSchedule *s;
	TimestampTz now;
	const char *status;			/* enqueued, duplicate, failed */
	char	   *error;
	bool		have_task;
	int64		task_id;
	bool		have_next;
	TimestampTz next;
	int32		failures;
} TickOutcome;

static SPIPlanPtr due_plan;
static SPIPlanPtr due_0_1_plan;
static SPIPlanPtr update_plan;

/* record_outcome's statement: $1 id, $2 next_run_at, $3 status, $4 error, $5 task, $6 failures */
static const char *const update_sql =
"UPDATE taskmill.task_schedules SET next_run_at = $2,"
" last_run_at = pg_catalog.now(), last_status = $3, last_error = $4,"
" last_task_id = COALESCE($5, last_task_id),"
" consecutive_failures = $6, updated_at = pg_catalog.now()"
" WHERE id OPERATOR(pg_catalog.=) $1";

/*
 * Run fn(arg) in a subtransaction of its own. False, with the error in *edata, if it
 * raised one (rolled back); a cancel or shutdown request is raised again, to stop the
 * whole run.
 */
static bool
in_subtransaction(void (*fn) (void *), void *arg, ErrorData **edata)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	volatile bool ok = true;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		fn(arg);
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		*edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		ok = false;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;
	if (!ok && ((*edata)->sqlerrcode == ERRCODE_QUERY_CANCELED ||
				(*edata)->sqlerrcode == ERRCODE_ADMIN_SHUTDOWN))
		ReThrowError(*edata);
	return ok;
}

/* Write the outcome to the schedule's row. */
static void
record_outcome(void *arg)
{
	TickOutcome *o = (TickOutcome *) arg;
	Oid			types[6] = {INT8OID, TIMESTAMPTZOID, TEXTOID, TEXTOID, INT8OID, INT4OID};
	Datum		vals[6];
	char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};

	vals[0] = Int64GetDatum(o->s->id);
	vals[1] = TimestampTzGetDatum(o->next);
	nulls[1] = o->have_next ? ' ' : 'n';
	vals[2] = CStringGetTextDatum(o->status);
	vals[3] = o->error ? CStringGetTextDatum(o->error) : (Datum) 0;
	nulls[3] = o->error ? ' ' : 'n';
	vals[4] = Int64GetDatum(o->task_id);
	nulls[4] = o->have_task ? ' ' : 'n';
	vals[5] = Int32GetDatum(o->failures);
	tm_spi_run(tm_plan(&update_plan, update_sql, 6, types), vals, nulls, false, 0,
			   SPI_OK_UPDATE, "schedule update");
}

/*
 * Enqueue the tick's task with the owner's rights, then move the schedule on. The
 * switch of user is undone by the subtransaction's abort if anything fails.
 */
static void
enqueue_tick(void *arg)
{
	TickOutcome *o = (TickOutcome *) arg;
	const DueSchedule *s = o->s;
	CronExpr	e;
	Oid			save_user;
	int			save_sec;
	Oid			owner;

	taskmill_cron_parse_or_error(s->cron, &e);
	o->have_next = taskmill_cron_next_time(&e, taskmill_cron_timezone(s->timezone),
										   o->now, &o->next);
	GetUserIdAndSecContext(&save_user, &save_sec);
	/* no owner: a schedule of 0.1's table (before ALTER EXTENSION UPDATE), as 0.1 ran it */
	owner = s->owner ? get_role_oid(s->owner, false) : save_user;
	SetUserIdAndSecContext(owner, save_sec | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	o->task_id = tm_schedule_enqueue(s->queue_name, s->operation_id, s->payload, s->options,
									 NULL, tm_schedule_tick_key(s->operation_id, s->tick));
	SetUserIdAndSecContext(save_user, save_sec);
	o->have_task = true;
	o->status = "enqueued";
	o->failures = 0;
	record_outcome(o);
}

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
 * The outcome of a tick whose enqueue failed with edata: its task already there
 * (same key) is done; anything else is retried after a backoff, never later than the
 * next tick, and counted (saturating at INT_MAX).
 */
static void
failed_outcome(TickOutcome *o, ErrorData *edata)
{
	const DueSchedule *s = o->s;
	TimestampTz t = 0;

	o->have_task = false;
	if (edata->sqlerrcode == ERRCODE_UNIQUE_VIOLATION)
	{
		o->status = "duplicate";
		o->error = NULL;
		o->failures = 0;
		o->have_next = next_tick(s->cron, s->timezone, o->now, &t);
		o->next = t;
	}
	else
	{
		int			shift = Min(s->failures, 16);
		int64		delay = Min((int64) RETRY_BASE_SECS << shift, RETRY_MAX_SECS);
		TimestampTz retry = o->now + delay * USECS_PER_SEC;
		char	   *msg = edata->message ? edata->message : "unknown error";

		if (!next_tick(s->cron, s->timezone, o->now, &t) || retry < t)
			t = retry;
		o->next = t;
		o->have_next = true;
		o->status = "failed";
		o->failures = s->failures < INT_MAX ? s->failures + 1 : INT_MAX;
		if (edata->detail)
			msg = psprintf("%s: %s", msg, edata->detail);
		if (strlen(msg) > LAST_ERROR_MAX_BYTES)
			msg = psprintf("%.*s...", pg_mbcliplen(msg, strlen(msg), LAST_ERROR_MAX_BYTES), msg);
		o->error = msg;
	}
}

/* One due schedule; true if its task was enqueued. */
static bool
run_one(const DueSchedule *s, TimestampTz now)
{
	TickOutcome o;
	ErrorData  *edata;

	memset(&o, 0, sizeof(o));
	o.s = s;
	o.now = now;
	if (in_subtransaction(enqueue_tick, &o, &edata))
		return true;
	failed_outcome(&o, edata);
	if (!in_subtransaction(record_outcome, &o, &edata))
		ereport(WARNING,
				(errmsg("taskmill: could not record the run of schedule %lld: %s",
						(long long) s->id, edata->message)));
	return false;
}

/* Lock and copy out (into cxt) every due schedule, oldest tick first. */
static DueSchedule *
fetch_due(MemoryContext cxt, uint64 *ndue)
{
	DueSchedule *due;
	MemoryContext old;

#define DUE_SQL(owner) \
	"SELECT id, queue_name, operation_id, cron, timezone, payload," \
	" options, next_run_at, consecutive_failures, " owner \
	" FROM taskmill.task_schedules" \
	" WHERE next_run_at OPERATOR(pg_catalog.<=) pg_catalog.now()" \
	" ORDER BY next_run_at, id" \
	" FOR UPDATE SKIP LOCKED"

	tm_spi_run(tm_schedules_have_owner()
			   ? tm_plan(&due_plan, DUE_SQL("owner"), 0, NULL)
			   : tm_plan(&due_0_1_plan, DUE_SQL("NULL::pg_catalog.text"), 0, NULL),
			   NULL, NULL, false, 0, SPI_OK_SELECT, "due schedule scan");

	*ndue = SPI_processed;
	old = MemoryContextSwitchTo(cxt);
	due = palloc0(sizeof(DueSchedule) * Max(SPI_processed, 1));
	for (uint64 i = 0; i < SPI_processed; i++)
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
		due[i].options = DatumGetJsonbPCopy(SPI_getbinval(tup, desc, 7, &isnull));
		due[i].tick = DatumGetTimestampTz(SPI_getbinval(tup, desc, 8, &isnull));
		due[i].failures = DatumGetInt32(SPI_getbinval(tup, desc, 9, &isnull));
		due[i].owner = SPI_getvalue(tup, desc, 10);
	}
	MemoryContextSwitchTo(old);
	return due;
}

/*
 * search_path "pg_catalog, pg_temp" and the scheduler's lock_timeout until
 * AtEOXact_GUC(true, the level returned), or the end of the transaction on error.
 */
static int
pin_settings(void)
{
	int			nestlevel = NewGUCNestLevel();

	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	if (taskmill_scheduler_lock_timeout > 0)
		(void) set_config_option("lock_timeout",
								 psprintf("%d", taskmill_scheduler_lock_timeout),
								 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	return nestlevel;
}

/*
 * Enqueue every due schedule once and move it on; see the file header. Missed ticks
 * (downtime) give one run: next_run_at moves to the first tick after now, not after
 * the old one. Returns how many tasks were enqueued.
 */
int
taskmill_run_due(void)
{
	int			nestlevel = pin_settings();
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	MemoryContext workcxt = AllocSetContextCreate(CurrentMemoryContext,
												  "taskmill run_due_schedules",
												  ALLOCSET_DEFAULT_SIZES);
	MemoryContext loopcxt = AllocSetContextCreate(workcxt, "taskmill schedule",
												  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old;
	DueSchedule *due;
	uint64		ndue;
	int			enqueued = 0;

	tm_spi_connect();
	due = fetch_due(workcxt, &ndue);
	for (uint64 i = 0; i < ndue; i++)
	{
		CHECK_FOR_INTERRUPTS();
		MemoryContextReset(loopcxt);
		old = MemoryContextSwitchTo(loopcxt);
		if (run_one(&due[i], now))
			enqueued++;
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	MemoryContextDelete(workcxt);
	AtEOXact_GUC(true, nestlevel);
	return enqueued;
}


/* taskmill.run_due_schedules() RETURNS integer: how many tasks it enqueued. */
Datum
tm_body_run_due_schedules(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(taskmill_run_due());
}
