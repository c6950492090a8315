/*
 * taskmill.c
 *		Module entry point: the magic block, _PG_init and the extension's GUCs.
 */
#include "postgres.h"

#include <limits.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/varlena.h"

#include "bgworker.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/* taskmill.scheduler_interval: seconds between two scheduler runs of a background worker. */
int			taskmill_scheduler_interval = 1;

/* taskmill.scheduler_databases: databases that get a scheduler worker (needs preloading). */
char	   *taskmill_scheduler_databases = NULL;

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

	MarkGUCPrefixReserved("taskmill");

	if (process_shared_preload_libraries_in_progress)
		taskmill_register_scheduler_workers();
}
