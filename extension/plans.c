/*
 * plans.c
 *		Saved SPI plans: each hot statement is prepared once per backend and kept
 *		for the life of the backend (SPI_keepplan), so a call costs one execution.
 */
#include "postgres.h"

#include "executor/spi.h"

#include "taskmill.h"

/*
 * Return the plan in *slot, preparing and saving it on first use. The plan cache
 * re-analyses the statement after DDL (or DROP/CREATE EXTENSION), so a kept plan
 * never goes stale. Must be called between SPI_connect and SPI_finish.
 */
SPIPlanPtr
tm_plan(SPIPlanPtr *slot, const char *sql, int nargs, const Oid *argtypes)
{
	SPIPlanPtr	plan;

	if (*slot != NULL)
		return *slot;

	plan = SPI_prepare(sql, nargs, (Oid *) argtypes);
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
