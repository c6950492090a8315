/*
 * vacuum.c
 *		The vacuum background worker: with shared_preload_libraries = 'taskmill', one
 *		worker per database in taskmill.scheduler_databases vacuums taskmill.tasks and
 *		taskmill.task_results every taskmill.vacuum_interval seconds when their dead
 *		tuples (pg_stat_user_tables.n_dead_tup) number taskmill.vacuum_threshold or more.
 *
 * Why: every task row is inserted, updated at delivery and deleted at ack, so a busy
 * queue leaves thousands of dead row versions a second. Autovacuum looks at a table once
 * per autovacuum_naptime (1 min by default, a server-wide setting), and until it runs
 * the dead versions hold pages and index entries that dequeue steps over: at 2,000
 * tasks/s the table settled at ~56 MB for ~2,000 live rows (docs/benchmarks.md). A
 * VACUUM every few seconds keeps it at a few seconds' worth.
 *
 * Safe beside autovacuum: both vacuum with SKIP_LOCKED, so whichever comes second skips
 * the table instead of waiting (this worker checks the lock first, so it skips
 * quietly), and VACUUM itself is idempotent. It never waits for a lock a queue
 * statement holds (VACUUM takes SHARE UPDATE EXCLUSIVE, which dequeue and ack do not
 * conflict with; the end-of-table truncation is only tried without waiting).
 *
 * Security: the worker runs no SQL and no user code of its own. It forces a safe
 * search_path, finds the two tables by name in the extension's schema, and runs VACUUM
 * as the extension's owner (not as the bootstrap superuser it connected as), so it can
 * vacuum nothing its owner could not; VACUUM in turn runs each table's index functions
 * as the table's owner, under SECURITY_RESTRICTED_OPERATION, as autovacuum does.
 *
 * A database without the extension is skipped (checked each round). An error ends the
 * worker and the postmaster starts it again after TASKMILL_SCHEDULER_RESTART_SECS.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_extension.h"
#include "commands/extension.h"
#include "commands/vacuum.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/bufmgr.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/varlena.h"

#include "bgworker.h"
#include "pg_compat.h"
#include "privileges.h"
#include "vacuum.h"

PGDLLEXPORT void taskmill_vacuum_main(Datum main_arg);

/* taskmill.vacuum_interval: seconds between two checks (0: the worker idles) */
static int	vacuum_interval = 5;

/* taskmill.vacuum_threshold: dead tuples that make a table worth a VACUUM */
static int	vacuum_threshold = 5000;

/* the tables a queue churns through, in the extension's schema */
static const char *const hot_tables[] = {"tasks", "task_results"};

void
taskmill_vacuum_define_gucs(void)
{
	DefineCustomIntVariable("taskmill.vacuum_interval",
							"Seconds between two checks of the taskmill vacuum background worker; 0 turns it off.",
							"The worker runs in each database of taskmill.scheduler_databases (needs preloading).",
							&vacuum_interval,
							5, 0, 3600,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomIntVariable("taskmill.vacuum_threshold",
							"Dead tuples in taskmill.tasks or taskmill.task_results that make the vacuum worker VACUUM it.",
							NULL,
							&vacuum_threshold,
							5000, 1, INT_MAX,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);
}

/* One worker per database of taskmill.scheduler_databases (from _PG_init, preloading). */
void
taskmill_register_vacuum_workers(void)
{
	ListCell   *lc;

	foreach(lc, taskmill_scheduler_database_names())
		taskmill_register_database_worker("taskmill_vacuum_main", "taskmill vacuum",
										  (char *) lfirst(lc), 0);
}

/* The extension owner (tm_extension_owner), or InvalidOid when taskmill is not installed. */
static Oid
installed_extension_owner(void)
{
	if (!OidIsValid(get_extension_oid("taskmill", true)))
		return InvalidOid;
	return tm_extension_owner();
}

/*
 * The hot tables whose dead tuples reached the threshold and that no one vacuums right
 * now (their SHARE UPDATE EXCLUSIVE lock is free), as VacuumRelations in cxt.
 */
static List *
tables_to_vacuum(Oid schema, MemoryContext cxt)
{
	List	   *rels = NIL;

	for (int i = 0; i < (int) lengthof(hot_tables); i++)
	{
		Oid			relid = get_relname_relid(hot_tables[i], schema);
		PgStat_StatTabEntry *stats;
		MemoryContext old;

		if (!OidIsValid(relid))
			continue;
		stats = pgstat_fetch_stat_tabentry(relid);
		if (stats == NULL || tm_stat_dead_tuples(stats) < vacuum_threshold)
			continue;
		if (!ConditionalLockRelationOid(relid, ShareUpdateExclusiveLock))
			continue;			/* autovacuum (or a manual VACUUM) is at it */
		UnlockRelationOid(relid, ShareUpdateExclusiveLock);
		old = MemoryContextSwitchTo(cxt);
		rels = lappend(rels, makeVacuumRelation(makeRangeVar(pstrdup("taskmill"), pstrdup(hot_tables[i]), -1),
												relid, NIL));
		MemoryContextSwitchTo(old);
	}
	return rels;
}

/* One round: look at the statistics, VACUUM what needs it. */
static void
vacuum_round(MemoryContext cxt)
{
	List	   *rels = NIL;
	Oid			owner = InvalidOid;

	MemoryContextReset(cxt);
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	owner = installed_extension_owner();
	if (OidIsValid(owner))
	{
		Oid			schema = get_namespace_oid("taskmill", true);

		if (OidIsValid(schema))
			rels = tables_to_vacuum(schema, cxt);
	}
	PopActiveSnapshot();

	if (rels != NIL)
	{
		VacuumParams params;
		TmUserScope scope;

		memset(&params, 0, sizeof(params));
		/* what VACUUM (SKIP_LOCKED) sets: the table and its TOAST table */
		params.options = VACOPT_VACUUM | VACOPT_SKIP_LOCKED | TM_VACOPT_PROCESS_MAIN |
			VACOPT_PROCESS_TOAST;
		params.freeze_min_age = -1;
		params.freeze_table_age = -1;
		params.multixact_freeze_min_age = -1;
		params.multixact_freeze_table_age = -1;
		params.is_wraparound = false;
		params.log_min_duration = -1;
		params.index_cleanup = VACOPTVALUE_UNSPECIFIED;
		params.truncate = VACOPTVALUE_UNSPECIFIED;
		params.nworkers = -1;
		tm_vacuum_params_from_settings(&params);

		pgstat_report_activity(STATE_RUNNING, "VACUUM taskmill.tasks, taskmill.task_results");
		/*
		 * vacuum() commits this transaction, runs its own per table, and starts a new one:
		 * no GUC level may span it, and the worker's search_path is pinned for its session
		 * (bgworker.c)
		 */
		tm_user_scope_begin(&scope, owner, SECURITY_RESTRICTED_OPERATION, false);
		PortalContext = cxt;
		tm_vacuum(rels, &params, cxt);
		tm_user_scope_end(&scope);
	}
	CommitTransactionCommand();
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
}

void
taskmill_vacuum_main(Datum main_arg)
{
	MemoryContext cxt;

	taskmill_bgworker_start("taskmill vacuum", "taskmill vacuum worker");
	cxt = AllocSetContextCreate(TopMemoryContext, "taskmill vacuum", ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		taskmill_bgworker_loop_top();

		if (vacuum_interval > 0)
			vacuum_round(cxt);

		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 (vacuum_interval > 0 ? vacuum_interval : 60) * 1000L,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}
