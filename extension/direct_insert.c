/*
 * direct_insert.c
 *		The enqueue INSERT without the SQL layer.
 *
 * A one-task enqueue is one short transaction, and at one client its rate is that of
 * PostgreSQL's commits. Through SPI, the INSERT also paid for a snapshot, a plan cache
 * check, an executor start and end and two memory contexts: together about a tenth of
 * the whole round trip. Here the rows go in through rel_insert.c, as logical
 * replication's apply worker inserts them.
 *
 * Used only for tasks without a caller's idempotency key (nothing to resolve with
 * ON CONFLICT) on a plain table: when rel_insert.c says no (triggers, row-level
 * security, generated columns, the permission check), the caller falls back to the SQL
 * statement, which does everything an INSERT does.
 *
 * Kept honest: where each column's value comes from, and the defaults of the columns
 * no field fills, come from one place (tm_task_table, task_fields.c, which reads them
 * from the catalog); the regression test queue_direct_insert compares rows written
 * here with rows written by the SQL statement.
 */
#include "postgres.h"

#include "access/xact.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "taskmill.h"

/* Task t's value of each column, as the SQL statement would write it. */
static void
fill_row(const TmTaskTable *table, text *queue, const TmNewTask *t, TupleTableSlot *slot,
		 TmRelInsert *ins)
{
	for (int i = 0; i < table->natts; i++)
	{
		const TmColumn *col = &table->cols[i];
		Datum	   *value = &slot->tts_values[i];
		bool	   *isnull = &slot->tts_isnull[i];

		*isnull = false;
		switch (col->source)
		{
			case TCS_ID:
				*value = Int64GetDatum(t->id);
				break;
			case TCS_QUEUE:
				*value = PointerGetDatum(queue);
				break;
			case TCS_FIELD:
				*value = t->values[col->field];
				*isnull = t->isnull[col->field];
				break;
			case TCS_WAITING:
				*value = BoolGetDatum(!t->isnull[TF_SCHEDULED_AT] &&
									  DatumGetTimestampTz(t->values[TF_SCHEDULED_AT]) >
									  GetCurrentTransactionStartTimestamp());
				break;
			case TCS_DEFAULT:
				*value = tm_rel_insert_default(ins, i, isnull);
				break;
			case TCS_DROPPED:
				*value = (Datum) 0;
				*isnull = true;
				break;
		}
	}
}

/*
 * Insert the tasks (n >= 1, every field set or defaulted, keys generated); false
 * (nothing done) when the fast path does not apply and the caller must use the SQL
 * statement.
 */
bool
tm_insert_tasks_direct(text *queue, const TmNewTask *tasks, int n)
{
	const TmTaskTable *table = tm_task_table();
	TmRelInsert ins;

	if (!tm_rel_insert_open(&ins, table->relid, table->inserted_cols))
		return false;
	table = tm_task_table();	/* the lock took in any change to the table */
	if (RelationGetDescr(ins.rel)->natts != table->natts)
	{
		tm_rel_insert_close(&ins);
		return false;
	}
	tm_rel_insert_prepare(&ins, table->cols, table->natts, n);
	for (int done = 0; done < n; done += ins.nslots)
	{
		int			m = Min(ins.nslots, n - done);

		for (int r = 0; r < m; r++)
			fill_row(table, queue, &tasks[done + r], tm_rel_insert_slot(&ins, r), &ins);
		tm_rel_insert_flush(&ins, m);
	}
	tm_rel_insert_close(&ins);

	/* later statements of the caller's transaction see the tasks, as after an INSERT */
	CommandCounterIncrement();
	return true;
}
