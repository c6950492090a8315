/*
 * plans.c
 *		Saved SPI plans: each hot statement is prepared once per backend and kept
 *		for the life of the backend (SPI_keepplan), so a call costs one execution.
 */
#include "postgres.h"

#include "executor/spi.h"
#include "jit/jit.h"
#include "nodes/parsenodes.h"
#include "utils/guc.h"

#include "taskmill.h"

/*
 * Return the plan in *slot, preparing and saving it on first use. The plan cache
 * re-analyses the statement after DDL (or DROP/CREATE EXTENSION), so a kept plan
 * never goes stale. Must be called between SPI_connect and SPI_finish.
 *
 * Plans are generic from the first call (CURSOR_OPT_GENERIC_PLAN): every statement
 * here is meant to run on its partial indexes whatever the parameters, and a custom
 * plan per call would cost more planning than executing.
 */
SPIPlanPtr
tm_plan(SPIPlanPtr *slot, const char *sql, int nargs, const Oid *argtypes)
{
	SPIPlanPtr	plan;

	if (*slot != NULL)
		return *slot;

	plan = SPI_prepare_cursor(sql, nargs, (Oid *) argtypes, CURSOR_OPT_GENERIC_PLAN);
	if (plan == NULL)
		elog(ERROR, "taskmill: SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "taskmill: SPI_keepplan failed");
	*slot = plan;
	return plan;
}

void
tm_spi_connect(void)
{
	int			rc = SPI_connect();

	if (rc != SPI_OK_CONNECT)
		elog(ERROR, "taskmill: SPI_connect failed: %s", SPI_result_code_string(rc));
}

/*
 * Execute a saved plan (inside SPI) and fail unless SPI answers expected_rc; what
 * names the statement in the error. One place for the check every statement needs.
 */
void
tm_spi_run(SPIPlanPtr plan, Datum *values, const char *nulls, bool read_only, long count,
		   int expected_rc, const char *what)
{
	int			rc = SPI_execute_plan(plan, values, nulls, read_only, count);

	if (rc != expected_rc)
		elog(ERROR, "taskmill: %s failed: %s", what, SPI_result_code_string(rc));
}

/*
 * tm_spi_run without JIT. A generic plan with "LIMIT $2" is costed as if it fetched a
 * tenth of the queue, which passes jit_above_cost on a large queue and would make
 * every dequeue compile expressions (hundreds of milliseconds) to fetch a few rows.
 * JIT is decided when the plan is built, which may happen at any execution (after an
 * invalidation), so it is off around each execution; the setting is restored
 * afterwards, and by the (sub)transaction abort on error.
 */
void
tm_spi_run_nojit(SPIPlanPtr plan, Datum *values, const char *nulls, bool read_only,
				 long count, int expected_rc, const char *what)
{
	int			nestlevel;

	if (!jit_enabled)
	{
		tm_spi_run(plan, values, nulls, read_only, count, expected_rc, what);
		return;
	}
	nestlevel = NewGUCNestLevel();
	(void) set_config_option("jit", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	tm_spi_run(plan, values, nulls, read_only, count, expected_rc, what);
	AtEOXact_GUC(true, nestlevel);
}
