/*
 * taskmill.c
 *		Module entry point: the magic block, _PG_init and the extension's GUCs.
 */
#include "postgres.h"

#include <limits.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/varlena.h"

#include "bgworker.h"
#include "console.h"
#include "taskmill.h"
#include "vacuum.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/* taskmill.scheduler_interval: seconds between two scheduler runs of a background worker. */
int			taskmill_scheduler_interval = 1;

/* taskmill.scheduler_databases: databases that get a scheduler worker (needs preloading). */
char	   *taskmill_scheduler_databases = NULL;

/*
 * Size limits (docs/sql-api.md "Limits"): how much one call may ask the server to hold.
 * PGC_SUSET: a role may lower them for itself, only a superuser may raise them.
 */
int			tm_max_enqueue_batch = 10000;
int			tm_max_payload_bytes = 8 * 1024 * 1024;
int			tm_max_meta_bytes = 64 * 1024;
int			tm_max_result_bytes = 8 * 1024 * 1024;
int			tm_max_error_bytes = 64 * 1024;
int			tm_max_key_bytes = 512;
int			tm_max_schedules_per_queue = 1000;

/* taskmill.scheduler_lock_timeout / statement_timeout: bounds on a scheduler run (ms). */
int			taskmill_scheduler_lock_timeout = 1000;
int			taskmill_scheduler_statement_timeout = 5000;

static void
define_limits(void)
{
	static const struct
	{
		const char *name;
		const char *desc;
		int		   *var;
		int			max;
		int			unit;
	}			limits[] = {
		{"taskmill.max_enqueue_batch", "Most tasks one enqueue_batch or enqueue_arrays call may add.",
		&tm_max_enqueue_batch, 1000000, 0},
		{"taskmill.max_payload_bytes", "Largest payload (jsonb, stored size) a task may have.",
		&tm_max_payload_bytes, MaxAllocSize / 2, GUC_UNIT_BYTE},
		{"taskmill.max_meta_bytes", "Largest meta (jsonb, stored size) a task may have.",
		&tm_max_meta_bytes, MaxAllocSize / 2, GUC_UNIT_BYTE},
		{"taskmill.max_result_bytes", "Largest result (jsonb) ack may record.",
		&tm_max_result_bytes, MaxAllocSize / 2, GUC_UNIT_BYTE},
		{"taskmill.max_error_bytes", "Longest error text nack may record.",
		&tm_max_error_bytes, MaxAllocSize / 2, GUC_UNIT_BYTE},
		{"taskmill.max_key_bytes", "Longest idempotency key a caller may give.",
		&tm_max_key_bytes, 1024 * 1024, GUC_UNIT_BYTE},
		{"taskmill.max_schedules_per_queue", "Most schedules one queue may have (register_schedules).",
		&tm_max_schedules_per_queue, 1000000, 0},
	};

	for (int i = 0; i < (int) lengthof(limits); i++)
		DefineCustomIntVariable(limits[i].name, limits[i].desc, NULL, limits[i].var,
								*limits[i].var, 1, limits[i].max, PGC_SUSET,
								limits[i].unit, NULL, NULL, NULL);
	DefineCustomIntVariable("taskmill.scheduler_lock_timeout",
							"Longest wait for a lock by one schedule's step of run_due_schedules().",
							"A schedule that waits longer fails alone and is retried; 0 keeps the session's lock_timeout.",
							&taskmill_scheduler_lock_timeout,
							1000, 0, INT_MAX, PGC_SUSET, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("taskmill.scheduler_statement_timeout",
							"Longest transaction of the scheduler background worker for one due schedule.",
							"Each due schedule is run in a transaction of its own; one that runs longer is rolled back, recorded as failed and retried after a backoff. 0: no limit.",
							&taskmill_scheduler_statement_timeout,
							5000, 0, INT_MAX, PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
}

/* Accept only a list SplitGUCList can read, of at most TASKMILL_MAX_SCHEDULERS names. */
static bool
check_scheduler_databases(char **newval, void **extra, GucSource source)
{
	char	   *copy;
	List	   *names = NIL;
	ListCell   *lc;
	bool		ok;

	if (*newval == NULL || (*newval)[0] == '\0')
		return true;
	copy = pstrdup(*newval);
	ok = SplitGUCList(copy, ',', &names);
	if (!ok)
	{
		GUC_check_errdetail("List syntax is invalid.");
		return false;
	}
	if (list_length(names) > TASKMILL_MAX_SCHEDULERS)
	{
		GUC_check_errdetail("At most %d databases can have a scheduler.", TASKMILL_MAX_SCHEDULERS);
		return false;
	}
	foreach(lc, names)
	{
		const char *name = (const char *) lfirst(lc);

		if (name[0] == '\0' || strlen(name) >= NAMEDATALEN)
		{
			GUC_check_errdetail("Database name \"%s\" is not valid.", name);
			return false;
		}
	}
	list_free(names);
	pfree(copy);
	return true;
}

void
_PG_init(void)
{
	DefineCustomIntVariable("taskmill.scheduler_interval",
							"Seconds between two runs of taskmill.run_due_schedules() by a scheduler background worker.",
							NULL,
							&taskmill_scheduler_interval,
							1, 1, 3600,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	/*
	 * Workers are registered once, at server start, so the list is fixed then
	 * (PGC_POSTMASTER).  A backend that loads the library later may not define a
	 * PGC_POSTMASTER variable; there it is only informative (PGC_SIGHUP).
	 */
	DefineCustomStringVariable("taskmill.scheduler_databases",
							   "Comma-separated databases in which a background worker runs due cron schedules.",
							   "Needs shared_preload_libraries = 'taskmill'; empty starts no worker.",
							   &taskmill_scheduler_databases,
							   "",
							   process_shared_preload_libraries_in_progress ? PGC_POSTMASTER : PGC_SIGHUP,
							   GUC_LIST_INPUT,
							   check_scheduler_databases, NULL, NULL);

	define_limits();
	taskmill_vacuum_define_gucs();
	taskmill_console_define_gucs();

	MarkGUCPrefixReserved("taskmill");
	tm_build_enqueue_sql();

	if (process_shared_preload_libraries_in_progress)
	{
		taskmill_register_scheduler_workers();
		taskmill_register_vacuum_workers();
	}
}
