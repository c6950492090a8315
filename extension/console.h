/*
 * console.h
 *		The console functions (admin.c runs their statements; console_stats.c holds the
 *		statements that read a queue's size and the time limit console reads run under).
 */
#ifndef TASKMILL_CONSOLE_H
#define TASKMILL_CONSOLE_H

#include "fmgr.h"
#include "datatype/timestamp.h"
#include "executor/spi.h"

#define ADMIN_MAX_ARGS 7

typedef struct AdminStatement
{
	const char *name;
	bool		returns_rows;	/* else one bigint */
	bool		read_only;
	int			right;			/* on the queue of argument 0; TM_RIGHT_ANY = any */
	int			nargs;			/* the function's own arguments */
	Oid			argtypes[ADMIN_MAX_ARGS];
	const char *sql;
	SPIPlanPtr	plan;
} AdminStatement;

/* Keeps only rows of queues the caller may see: the filter on column "col". */
#define VISIBLE(col, caller, all, right) \
	" (" all " OR taskmill.has_queue_right(" caller ", " col ", '" right "'))"

/* admin.c: run one console statement for the calling function */
extern Datum tm_run_admin(FunctionCallInfo fcinfo, AdminStatement *st);
extern void tm_store_rows(ReturnSetInfo *rsinfo, int hidden);

/*
 * console_stats.c: taskmill.console_statement_timeout, the longest a console read may
 * run. tm_console_limit_begin arms it (keeping an earlier statement_timeout deadline),
 * tm_console_limit_end puts back the deadline that was armed before.
 */
typedef struct TmConsoleLimit
{
	bool		armed;
	bool		outer_active;
	TimestampTz outer_finish;
} TmConsoleLimit;

extern void taskmill_console_define_gucs(void);
extern void tm_console_limit_begin(TmConsoleLimit *limit);
extern void tm_console_limit_end(TmConsoleLimit *limit);

#endif							/* TASKMILL_CONSOLE_H */
