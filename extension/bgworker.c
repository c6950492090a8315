/*
 * bgworker.c
 *		The scheduler background worker: with shared_preload_libraries = 'taskmill', one
 *		worker per database in taskmill.scheduler_databases runs due cron schedules every
 *		taskmill.scheduler_interval seconds, inside the server.
 *
 * Each pass lists the due schedules (one short transaction), then runs each in a
 * transaction of its own, with the same steps as taskmill.run_due_schedules(), so
 * workers, client-side schedulers and manual calls can all run at once: row locks with
 * SKIP LOCKED keep every tick to one task.  One schedule's transaction can therefore
 * neither delay nor roll back another's: it is bounded by
 * taskmill.scheduler_statement_timeout (its own budget), its lock waits by
 * taskmill.scheduler_lock_timeout, and a tick whose key another transaction holds is
 * left for the next pass without waiting (run_due.c).  A database without the extension
 * is skipped quietly (it is checked at every pass, so CREATE EXTENSION later is picked up).
 *
 * The worker connects as the bootstrap superuser but never acts as one on a user's
 * behalf: search_path is "pg_catalog, pg_temp" whatever the database or role settings
 * say (as autovacuum sets it), and each schedule's task is enqueued with its owner's
 * rights (run_due.c).  An error in a schedule's transaction (its timeout included) is
 * logged and rolls back that transaction only; the schedule is recorded as failed, to be
 * retried after a backoff, and the pass goes on.  SIGTERM (pg_terminate_backend) ends
 * the worker; the postmaster starts it again after TASKMILL_SCHEDULER_RESTART_SECS.  It
 * exits with the server.
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/timeout.h"
#include "utils/varlena.h"

#include "bgworker.h"
#include "schedules.h"

PGDLLEXPORT void taskmill_scheduler_main(Datum main_arg);

/*
 * The databases named by taskmill.scheduler_databases, each once, in the order given (a
 * List of palloc'd names; NIL when none). Both the scheduler and the vacuum workers are
 * registered from it.
 */
List *
taskmill_scheduler_database_names(void)
{
	char	   *copy;
	List	   *names = NIL;
	List	   *unique = NIL;
	ListCell   *lc;

	if (taskmill_scheduler_databases == NULL || taskmill_scheduler_databases[0] == '\0')
		return NIL;
	copy = pstrdup(taskmill_scheduler_databases);
	if (!SplitGUCList(copy, ',', &names))
		return NIL;				/* the check hook already rejected it */
	foreach(lc, names)
	{
		char	   *dbname = (char *) lfirst(lc);
		ListCell   *lc2;
		bool		dup = false;

		foreach(lc2, unique)
			if (strcmp((char *) lfirst(lc2), dbname) == 0)
				dup = true;
		if (!dup)
			unique = lappend(unique, dbname);
	}
	return unique;
}

/*
 * Register one background worker of the taskmill library for database dbname:
 * function is its entry point, type its pg_stat_activity backend_type (the name adds
 * the database), arg its main argument. Both kinds of worker restart after
 * TASKMILL_SCHEDULER_RESTART_SECS when they exit with an error.
 */
void
taskmill_register_database_worker(const char *function, const char *type,
								  const char *dbname, int arg)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = TASKMILL_SCHEDULER_RESTART_SECS;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "taskmill");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "%s", function);
	snprintf(worker.bgw_name, BGW_MAXLEN, "%s for database %s", type, dbname);
	snprintf(worker.bgw_type, BGW_MAXLEN, "%s", type);
	strlcpy(worker.bgw_extra, dbname, BGW_EXTRALEN);
	worker.bgw_main_arg = Int32GetDatum(arg);
	worker.bgw_notify_pid = 0;
	RegisterBackgroundWorker(&worker);
}

/*
 * Register one scheduler worker per listed database.  Called from _PG_init only while
 * shared_preload_libraries is being processed: static workers must exist before the
 * postmaster starts.
 */
void
taskmill_register_scheduler_workers(void)
{
	ListCell   *lc;
	int			n = 0;

	foreach(lc, taskmill_scheduler_database_names())
		taskmill_register_database_worker("taskmill_scheduler_main", "taskmill scheduler",
										  (char *) lfirst(lc), n++);
}

/* Start a transaction of the pass, with its time budget; false if no extension. */
static bool
scheduler_begin(const char *activity)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	if (taskmill_scheduler_statement_timeout > 0)
		enable_timeout_after(STATEMENT_TIMEOUT, taskmill_scheduler_statement_timeout);
	pgstat_report_activity(STATE_RUNNING, activity);
	return OidIsValid(get_extension_oid("taskmill", true));
}

static void
scheduler_commit(void)
{
	disable_timeout(STATEMENT_TIMEOUT, false);
	PopActiveSnapshot();
	CommitTransactionCommand();
}

/*
 * After an error in a transaction of the pass: log it and roll the transaction back,
 * as a backend's main loop does with a failed statement. Returns the error (in cxt).
 */
static ErrorData *
scheduler_abort(MemoryContext cxt)
{
	ErrorData  *edata;

	disable_timeout(STATEMENT_TIMEOUT, false);
	MemoryContextSwitchTo(cxt);
	edata = CopyErrorData();
	EmitErrorReport();
	FlushErrorState();
	AbortCurrentTransaction();
	QueryCancelPending = false;
	MemoryContextSwitchTo(cxt);
	return edata;
}

/*
 * Schedule id's step in a transaction of its own; true if a task was enqueued. If the
 * transaction fails as a whole (its budget ran out, an error outside the steps'
 * subtransactions), the schedule is recorded as failed in another, so that it is retried
 * after a backoff instead of at every pass.
 */
static bool
scheduler_run_schedule(int64 id, MemoryContext cxt)
{
	volatile bool enqueued = false;
	ErrorData  *volatile edata = NULL;

	PG_TRY();
	{
		if (scheduler_begin("SELECT taskmill.run_due_schedules()"))
			enqueued = taskmill_run_due_schedule(id) == RUN_DUE_ENQUEUED;
		scheduler_commit();
	}
	PG_CATCH();
	{
		edata = scheduler_abort(cxt);
	}
	PG_END_TRY();
	if (edata == NULL)
		return enqueued;
	PG_TRY();
	{
		if (scheduler_begin("taskmill scheduler: record a failed schedule"))
			taskmill_run_due_schedule_failed(id, edata);
		scheduler_commit();
	}
	PG_CATCH();
	{
		(void) scheduler_abort(cxt);
	}
	PG_END_TRY();
	return false;
}

/*
 * One pass: list the due schedules, then run each in a transaction of its own. The
 * list is bounded (run_due.c); a schedule that another scheduler took meanwhile, or
 * whose tick's key is held, is skipped. A pass lasts at most
 * taskmill.scheduler_interval: a schedule that came due meanwhile waits at most that
 * long for the next list, where it is in the first turns (run_due.c). True if the pass
 * was cut short (the next one starts at once).
 */
static bool
scheduler_run_once(void)
{
	TimestampTz deadline = GetCurrentTimestamp() +
		(TimestampTz) taskmill_scheduler_interval * USECS_PER_SEC;
	bool		cut = false;
	MemoryContext cxt = AllocSetContextCreate(TopMemoryContext, "taskmill scheduler pass",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext loopcxt = AllocSetContextCreate(cxt, "taskmill scheduler schedule",
												  ALLOCSET_DEFAULT_SIZES);
	int64	   *volatile ids = NULL;
	volatile int n = 0;
	int			enqueued = 0;

	PG_TRY();
	{
		if (scheduler_begin("taskmill scheduler: list due schedules"))
		{
			int			count;

			ids = taskmill_due_schedule_ids(cxt, &count);
			n = count;
		}
		scheduler_commit();
	}
	PG_CATCH();
	{
		(void) scheduler_abort(cxt);
		n = 0;
	}
	PG_END_TRY();

	for (int i = 0; i < n; i++)
	{
		if (i > 0 && GetCurrentTimestamp() >= deadline)
		{
			cut = true;
			break;
		}
		taskmill_bgworker_loop_top();
		MemoryContextReset(loopcxt);
		MemoryContextSwitchTo(loopcxt);
		if (scheduler_run_schedule(ids[i], loopcxt))
			enqueued++;
	}
	MemoryContextSwitchTo(TopMemoryContext);
	MemoryContextDelete(cxt);
	if (enqueued > 0)
		elog(DEBUG1, "taskmill scheduler enqueued %d task(s)", enqueued);
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
	return cut;
}

/*
 * The start of every taskmill background worker (the scheduler, the vacuum worker):
 * signals, the connection to the database named in bgw_extra, and a session no user
 * can steer: no schema a user can create in is searched (ALTER DATABASE ... SET
 * search_path), and READ COMMITTED, which SKIP LOCKED needs to step over rows another
 * worker just moved on (under a stricter cluster-wide default such a row would fail
 * the run instead).
 */
void
taskmill_bgworker_start(const char *appname, const char *what)
{
	char		dbname[BGW_EXTRALEN];

	strlcpy(dbname, MyBgworkerEntry->bgw_extra, sizeof(dbname));
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	BackgroundWorkerInitializeConnection(dbname, NULL, 0);
	pgstat_report_appname(appname);
	SetConfigOption("default_transaction_isolation", "read committed",
					PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_OVERRIDE);
	elog(LOG, "%s started for database \"%s\"", what, dbname);
}

/* At the top of a worker's loop: interrupts, and postgresql.conf again after a SIGHUP. */
void
taskmill_bgworker_loop_top(void)
{
	CHECK_FOR_INTERRUPTS();
	if (ConfigReloadPending)
	{
		ConfigReloadPending = false;
		ProcessConfigFile(PGC_SIGHUP);
	}
}

void
taskmill_scheduler_main(Datum main_arg)
{
	taskmill_bgworker_start("taskmill scheduler", "taskmill scheduler");
	for (;;)
	{
		taskmill_bgworker_loop_top();

		if (scheduler_run_once())
			continue;

		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 (long) taskmill_scheduler_interval * 1000L,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}
