/*
 * run_due.c
 *		run_due_schedules: every due schedule becomes a task exactly once per tick. The
 *		scheduler background worker (bgworker.c) runs the same steps, one schedule per
 *		transaction.
 *
 * Exactly once: a due row is locked with FOR UPDATE SKIP LOCKED and next_run_at moves
 * forward in the same transaction as the enqueue, so a second scheduler either skips
 * the row or finds it no longer due. The tick's idempotency key (in a namespace only
 * the scheduler writes, TM_SCHEDULE_KEY_PREFIX) is a second fence: an enqueue that
 * meets a task already holding it (23505) counts as done.
 *
 * One schedule never delays, aborts or rolls back another (docs/schedules.md):
 *  - the due schedules are listed first (no locks), in turns of their owners (one of
 *    each owner's, then a second of each ...), then each is locked and run on its own:
 *    in a subtransaction of its own here, in a transaction of its own with a time
 *    budget of its own in the background worker;
 *  - a tick whose key another transaction holds (inserted or deleted, not yet
 *    committed) is not waited for: the probe (tick_key_held) reads the key index with a
 *    dirty snapshot, and the schedule is left due, to be tried again at the next pass;
 *  - every other lock wait is bounded (taskmill.scheduler_lock_timeout) and fails that
 *    schedule alone, retried after a backoff; the failure count saturates.
 *
 * Safe whoever runs it, the superuser background worker included:
 *  - search_path is pinned to "pg_catalog, pg_temp" for the whole run (as autovacuum
 *    pins it) and every operator of its SQL is qualified, so no function or operator a
 *    user created is picked by name;
 *  - each schedule's task is enqueued with the rights of the schedule's owner (the role
 *    that registered it), switched to as a SECURITY DEFINER function is: table
 *    privileges and row-level security apply to the owner, never to the runner.
 */
#include "postgres.h"

#include <limits.h>

#include "access/genam.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/fmgroids.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "bgworker.h"
#include "cron.h"
#include "pg_compat.h"
#include "privileges.h"
#include "schedules.h"
#include "taskmill.h"

/* Retries after a failed enqueue: 10 s, 20 s, 40 s ... at most an hour (or the next tick). */
#define RETRY_BASE_SECS 10
#define RETRY_MAX_SECS 3600

/* Longest error text kept in last_error. */
#define LAST_ERROR_MAX_BYTES 1024

/*
 * Most due schedules one pass lists (oldest tick first); the others wait for the next
 * pass. With taskmill.max_schedules_per_queue it bounds a pass.
 */
#define DUE_PER_PASS_MAX 100000

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
	char	   *key;			/* the tick's idempotency key */
	int32		failures;
} DueSchedule;

/* What one run did with a schedule, for its row. */
typedef struct TickOutcome
{
	const DueSchedule *s;
	TimestampTz now;
	const char *status;			/* enqueued, duplicate, failed */
	bool		held;			/* the key is held: left due, nothing done */
	char	   *error;
	bool		have_task;
	int64		task_id;
	bool		have_next;
	TimestampTz next;
	int32		failures;
} TickOutcome;

static SPIPlanPtr due_ids_plan;
static SPIPlanPtr due_ids_0_1_plan;
static SPIPlanPtr lock_plan;
static SPIPlanPtr lock_0_1_plan;
static SPIPlanPtr update_plan;

/*
 * The due schedules, no locks (each is locked when its turn comes), in turns: the
 * oldest due schedule of every owner (of every queue, for 0.1's table, which has no
 * owner), then the second of each, and so on. However many schedules one owner has
 * due, another's come within the first turns of a run.
 */
#define DUE_IDS_SQL(by) \
	"SELECT id FROM (SELECT id, next_run_at, pg_catalog.row_number() OVER" \
	"  (PARTITION BY " by " ORDER BY next_run_at, id) AS turn" \
	" FROM taskmill.task_schedules" \
	" WHERE next_run_at OPERATOR(pg_catalog.<=) pg_catalog.now()) due" \
	" ORDER BY turn, next_run_at, id" \
	" LIMIT " CppAsString2(DUE_PER_PASS_MAX)

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
 * Is the tick's key held by a transaction still in progress (a task with that key
 * inserted, or deleted, and not yet committed)? The enqueue would wait for it; the
 * scheduler does not, and tries the tick again at its next pass. The key index is read
 * with a dirty snapshot, as a unique check reads it (check_exclusion_or_unique_constraint).
 * A holder that starts after this probe is waited for at most
 * taskmill.scheduler_lock_timeout. False where the index is not the one expected.
 */
static bool
tick_key_held(const char *queue_name, const char *key)
{
	Oid			nsp = get_namespace_oid("taskmill", false);
	Oid			heapoid = get_relname_relid("tasks", nsp);
	Oid			idxoid = get_relname_relid("tasks_idempotency_key_idx", nsp);
	Relation	heap;
	Relation	idx;
	SnapshotData dirty;
	ScanKeyData skey[2];
	Datum		values[2];
	IndexScanDesc scan;
	TupleTableSlot *slot;
	bool		held = false;

	if (!OidIsValid(heapoid) || !OidIsValid(idxoid))
		return false;
	heap = table_open(heapoid, AccessShareLock);
	idx = index_open(idxoid, AccessShareLock);
	if (idx->rd_rel->relam != BTREE_AM_OID || idx->rd_index->indnkeyatts != 2 ||
		idx->rd_index->indrelid != heapoid ||
		TupleDescAttr(RelationGetDescr(idx), 0)->atttypid != TEXTOID ||
		TupleDescAttr(RelationGetDescr(idx), 1)->atttypid != TEXTOID)
	{
		index_close(idx, NoLock);
		table_close(heap, NoLock);
		return false;
	}
	values[0] = CStringGetTextDatum(queue_name);
	values[1] = CStringGetTextDatum(key);
	for (int i = 0; i < 2; i++)
		ScanKeyEntryInitialize(&skey[i], 0, i + 1, BTEqualStrategyNumber, InvalidOid,
							   idx->rd_indcollation[i], F_TEXTEQ, values[i]);
	InitDirtySnapshot(dirty);
	scan = tm_index_beginscan(heap, idx, &dirty, 2, 0);
	index_rescan(scan, skey, 2, NULL, 0);
	slot = table_slot_create(heap, NULL);
	/* one live key at most, and a few dead versions: bounded by the index */
	while (index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		if (TransactionIdIsValid(dirty.xmin) || TransactionIdIsValid(dirty.xmax))
		{
			held = true;
			break;
		}
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	index_close(idx, NoLock);
	table_close(heap, NoLock);
	return held;
}

/*
 * Enqueue the tick's task with the owner's rights, then move the schedule on; or, if
 * the tick's key is held, nothing (o->held). The switch of user is undone by the
 * subtransaction's abort if anything fails.
 */
static void
enqueue_tick(void *arg)
{
	TickOutcome *o = (TickOutcome *) arg;
	const DueSchedule *s = o->s;
	CronExpr	e;
	TmUserScope scope;

	if (tick_key_held(s->queue_name, s->key))
	{
		o->held = true;
		return;
	}
	taskmill_cron_parse_or_error(s->cron, &e);
	o->have_next = taskmill_cron_next_time(&e, taskmill_cron_timezone(s->timezone),
										   o->now, &o->next);
	/* no owner: a schedule of 0.1's table (before ALTER EXTENSION UPDATE), as 0.1 ran it */
	tm_user_scope_begin(&scope, s->owner ? get_role_oid(s->owner, false) : GetUserId(),
						SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION, true);
	o->task_id = tm_schedule_enqueue(s->queue_name, s->operation_id, s->payload, s->options,
									 NULL, s->key);
	tm_user_scope_end(&scope);
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

/* One locked due schedule; see RunDueResult. */
static RunDueResult
run_one(const DueSchedule *s, TimestampTz now)
{
	TickOutcome o;
	ErrorData  *edata;

	memset(&o, 0, sizeof(o));
	o.s = s;
	o.now = now;
	if (in_subtransaction(enqueue_tick, &o, &edata))
		return o.held ? RUN_DUE_HELD : RUN_DUE_ENQUEUED;
	failed_outcome(&o, edata);
	if (!in_subtransaction(record_outcome, &o, &edata))
		ereport(WARNING,
				(errmsg("taskmill: could not record the run of schedule %lld: %s",
						(long long) s->id, edata->message)));
	return RUN_DUE_NOT_ENQUEUED;
}

/*
 * Lock schedule id if it is still due and no other scheduler holds it, and copy it out
 * (into the current memory context). False if not.
 */
static bool
lock_due(int64 id, DueSchedule *s)
{
	Oid			types[1] = {INT8OID};
	Datum		vals[1] = {Int64GetDatum(id)};
	MemoryContext cxt = CurrentMemoryContext;
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	Datum		d;

#define LOCK_SQL(owner) \
	"SELECT id, queue_name, operation_id, cron, timezone, payload," \
	" options, next_run_at, consecutive_failures, " owner \
	" FROM taskmill.task_schedules" \
	" WHERE id OPERATOR(pg_catalog.=) $1" \
	" AND next_run_at OPERATOR(pg_catalog.<=) pg_catalog.now()" \
	" FOR UPDATE SKIP LOCKED"

	tm_spi_run(tm_schedules_have_owner()
			   ? tm_plan(&lock_plan, LOCK_SQL("owner"), 1, types)
			   : tm_plan(&lock_0_1_plan, LOCK_SQL("NULL::pg_catalog.text"), 1, types),
			   vals, NULL, false, 0, SPI_OK_SELECT, "due schedule lock");
	if (SPI_processed != 1)
		return false;
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	MemoryContextSwitchTo(cxt);
	memset(s, 0, sizeof(*s));
	s->id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
	s->queue_name = SPI_getvalue(tup, desc, 2);
	s->operation_id = SPI_getvalue(tup, desc, 3);
	s->cron = SPI_getvalue(tup, desc, 4);
	s->timezone = SPI_getvalue(tup, desc, 5);
	d = SPI_getbinval(tup, desc, 6, &isnull);
	s->payload = isnull ? NULL : DatumGetJsonbPCopy(d);
	s->options = DatumGetJsonbPCopy(SPI_getbinval(tup, desc, 7, &isnull));
	s->tick = DatumGetTimestampTz(SPI_getbinval(tup, desc, 8, &isnull));
	s->failures = DatumGetInt32(SPI_getbinval(tup, desc, 9, &isnull));
	s->owner = SPI_getvalue(tup, desc, 10);
	s->key = tm_schedule_tick_key(s->operation_id, s->tick);
	return true;
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

/* The ids of the due schedules (inside SPI), into cxt, in turns; at most DUE_PER_PASS_MAX. */
static int64 *
due_ids(MemoryContext cxt, int *n)
{
	int64	   *ids;

	tm_spi_run(tm_schedules_have_owner()
			   ? tm_plan(&due_ids_plan, DUE_IDS_SQL("owner"), 0, NULL)
			   : tm_plan(&due_ids_0_1_plan, DUE_IDS_SQL("queue_name"), 0, NULL),
			   NULL, NULL, true, 0, SPI_OK_SELECT, "due schedule scan");
	*n = (int) SPI_processed;
	ids = MemoryContextAlloc(cxt, sizeof(int64) * Max(*n, 1));
	for (int i = 0; i < *n; i++)
	{
		bool		isnull;

		ids[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc,
											 1, &isnull));
	}
	return ids;
}

int64 *
taskmill_due_schedule_ids(MemoryContext cxt, int *n)
{
	int			nestlevel = pin_settings();
	int64	   *ids;

	tm_spi_connect();
	ids = due_ids(cxt, n);
	SPI_finish();
	AtEOXact_GUC(true, nestlevel);
	return ids;
}

/* One step of a run: schedule id, if still due and free (inside SPI). */
typedef struct DueStep
{
	int64		id;
	TimestampTz now;
	RunDueResult result;
} DueStep;

static void
due_step(void *arg)
{
	DueStep    *step = (DueStep *) arg;
	DueSchedule s;

	step->result = RUN_DUE_SKIPPED;
	if (lock_due(step->id, &s))
		step->result = run_one(&s, step->now);
}

RunDueResult
taskmill_run_due_schedule(int64 id)
{
	int			nestlevel = pin_settings();
	DueStep		step;

	step.id = id;
	step.now = GetCurrentTransactionStartTimestamp();
	tm_spi_connect();
	due_step(&step);
	SPI_finish();
	AtEOXact_GUC(true, nestlevel);
	return step.result;
}

void
taskmill_run_due_schedule_failed(int64 id, ErrorData *edata)
{
	int			nestlevel = pin_settings();
	DueSchedule s;
	TickOutcome o;

	tm_spi_connect();
	if (lock_due(id, &s))
	{
		memset(&o, 0, sizeof(o));
		o.s = &s;
		o.now = GetCurrentTransactionStartTimestamp();
		failed_outcome(&o, edata);
		record_outcome(&o);
	}
	SPI_finish();
	AtEOXact_GUC(true, nestlevel);
}

/*
 * Enqueue every due schedule once and move it on; see the file header. Missed ticks
 * (downtime) give one run: next_run_at moves to the first tick after now, not after
 * the old one. Each schedule is a step in a subtransaction of its own: a step that
 * fails (other than by a cancel) is reported and leaves the schedule due. Returns how
 * many tasks were enqueued.
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
	int64	   *ids;
	int			n;
	int			enqueued = 0;

	tm_spi_connect();
	ids = due_ids(workcxt, &n);
	for (int i = 0; i < n; i++)
	{
		DueStep		step;
		ErrorData  *edata;

		CHECK_FOR_INTERRUPTS();
		MemoryContextReset(loopcxt);
		old = MemoryContextSwitchTo(loopcxt);
		step.id = ids[i];
		step.now = now;
		if (!in_subtransaction(due_step, &step, &edata))
			ereport(WARNING,
					(errmsg("taskmill: could not run schedule %lld: %s",
							(long long) ids[i], edata->message)));
		else if (step.result == RUN_DUE_ENQUEUED)
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
