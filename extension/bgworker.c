/*
 * bgworker.c
 *		The scheduler background worker: with shared_preload_libraries = 'taskmill', one
 *		worker per database in taskmill.scheduler_databases runs due cron schedules every
 *		taskmill.scheduler_interval seconds, inside the server.
 *
 * Each run is one transaction calling the same code as taskmill.run_due_schedules(), so
 * workers, client-side schedulers and manual calls can all run at once: row locks with
 * SKIP LOCKED keep every tick to one task.  A database without the extension is skipped
 * quietly (it is checked at every run, so CREATE EXTENSION later is picked up).
 *
 * The worker connects as the bootstrap superuser but never acts as one on a user's
 * behalf: search_path is "pg_catalog, pg_temp" whatever the database or role settings
 * say (as autovacuum sets it), and each schedule's task is enqueued with its owner's
 * rights (run_due.c).  A run is bounded by taskmill.scheduler_statement_timeout; an
 * error (that timeout included) is logged and rolls the run back, and the worker goes
 * on at its next interval.  SIGTERM (pg_terminate_backend) ends it; the postmaster
 * starts it again after TASKMILL_SCHEDULER_RESTART_SECS.  It exits with the server.
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
#include "utils/snapmgr.h"
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

/* One run: a transaction that enqueues the database's due schedules. */
static void
scheduler_run_transaction(void)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	if (taskmill_scheduler_statement_timeout > 0)
		enable_timeout_after(STATEMENT_TIMEOUT, taskmill_scheduler_statement_timeout);
	if (OidIsValid(get_extension_oid("taskmill", true)))
	{
		int			n;

		pgstat_report_activity(STATE_RUNNING, "SELECT taskmill.run_due_schedules()");
		n = taskmill_run_due();
		if (n > 0)
			elog(DEBUG1, "taskmill scheduler enqueued %d task(s)", n);
	}
	disable_timeout(STATEMENT_TIMEOUT, false);
	PopActiveSnapshot();
	CommitTransactionCommand();
}

/*
 * One run; an error is logged and rolled back (the worker goes on), as a backend's
 * main loop does with a failed statement.
 */
static void
scheduler_run_once(void)
{
	MemoryContext cxt = CurrentMemoryContext;

	PG_TRY();
	{
		scheduler_run_transaction();
	}
	PG_CATCH();
	{
		disable_timeout(STATEMENT_TIMEOUT, false);
		MemoryContextSwitchTo(cxt);
		EmitErrorReport();
		FlushErrorState();
		AbortCurrentTransaction();
		QueryCancelPending = false;
	}
	PG_END_TRY();
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
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

		scheduler_run_once();

		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 (long) taskmill_scheduler_interval * 1000L,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}
