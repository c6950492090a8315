/*
 * ack_results.c
 *		The results of an ack written without the SQL layer.
 *
 * An ack deletes the acked tasks and keeps each non-ephemeral one in task_results.
 * As one SQL statement (ack.c: the DELETE and an INSERT ... SELECT in a CTE) the
 * INSERT costs an executor node per row and per-row WAL; here the DELETE's RETURNING
 * rows (ack.c's "delete" statements: the TM_RESULT_COPIED columns, ephemeral, the
 * caller's result) go into task_results through rel_insert.c, many rows per
 * multi-insert, as enqueue's tasks do.
 *
 * Used when rel_insert.c allows it and result_table.c knows the table's layout; else
 * ack.c runs the SQL statement. The regression test ack_direct_results compares rows
 * written here with rows written by the SQL statement.
 *
 * Locks: task_results is opened (RowExclusiveLock) before the DELETE locks tasks, the
 * reverse of the statement's order; both are RowExclusiveLock, which conflict with neither
 * each other nor VACUUM, only with DDL, LOCK TABLE and TRUNCATE. The rows are written
 * with the DELETE's command id, as the CTE's INSERT was, and are what any INSERT is to a
 * (sub)transaction: gone with its rollback. On an error the executor state goes with the
 * SPI memory context and the relation and its indexes are released by the abort.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "taskmill.h"

/* the DELETE's RETURNING columns after the TM_RESULT_COPIED ones */
#define ACKED_EPHEMERAL		TRC_COUNT
#define ACKED_RESULT		(TRC_COUNT + 1)
#define ACKED_NATTS			(TRC_COUNT + 2)

/*
 * Open task_results for the direct path before the ack's DELETE runs (the DELETE
 * cannot be undone should the direct path then not apply); false: use the SQL
 * statement.
 */
bool
tm_results_open(TmRelInsert *ins)
{
	const TmResultTable *table = tm_result_table();

	if (!table->known || !tm_rel_insert_open(ins, table->relid, table->inserted_cols))
		return false;
	table = tm_result_table();	/* the lock took in any change to the table */
	if (!table->known || RelationGetDescr(ins->rel)->natts != table->natts)
	{
		tm_rel_insert_close(ins);
		return false;
	}
	return true;
}

/* The result row of one acked task (its RETURNING values acked / acked_null). */
static void
fill_result(const TmResultTable *table, const Datum *acked, const bool *acked_null,
			TupleTableSlot *slot, TmRelInsert *ins)
{
	for (int i = 0; i < table->natts; i++)
	{
		Datum	   *value = &slot->tts_values[i];
		bool	   *isnull = &slot->tts_isnull[i];

		*isnull = false;
		switch (table->source[i])
		{
			case TRS_COPIED:
				*value = acked[table->copied[i]];
				*isnull = acked_null[table->copied[i]];
				break;
			case TRS_COMPLETED_AT:
				/* now(): the transaction's start */
				*value = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
				break;
			case TRS_RESULT:
				*value = acked[ACKED_RESULT];
				*isnull = acked_null[ACKED_RESULT];
				break;
			case TRS_DEFAULT:
				*value = tm_rel_insert_default(ins, i, isnull);
				break;
			case TRS_DROPPED:
				*value = (Datum) 0;
				*isnull = true;
				break;
		}
	}
}

/*
 * After the ack's DELETE (acked: its n RETURNING rows): the kept tasks into
 * task_results (ins from tm_results_open, closed here), visible to later statements
 * as after an INSERT; then the next heads of the groups whose task left are woken
 * (fifo.c). Returns n, the deliveries acked.
 */
int32
tm_results_write_acked(TmRelInsert *ins, SPITupleTable *acked, int n)
{
	const TmResultTable *table = tm_result_table();
	Datum		values[ACKED_NATTS];
	bool		nulls[ACKED_NATTS];
	TmGroups	left;
	int			m = 0;

	/* both tables are locked since tm_results_open: a change here is a bug */
	if (!table->known || RelationGetDescr(ins->rel)->natts != table->natts ||
		acked->tupdesc->natts != ACKED_NATTS)
		elog(ERROR, "taskmill: taskmill.task_results changed during an ack");
	tm_rel_insert_prepare(ins, table->cols, table->natts, n);
	tm_groups_init(&left);
	for (int i = 0; i < n; i++)
	{
		heap_deform_tuple(acked->vals[i], acked->tupdesc, values, nulls);
		if (!nulls[TRC_task_group_id])
			tm_groups_add(&left, values[TRC_queue_name], values[TRC_task_group_id]);
		if (nulls[ACKED_EPHEMERAL] || DatumGetBool(values[ACKED_EPHEMERAL]))
			continue;			/* as the statement's WHERE NOT ephemeral */
		fill_result(table, values, nulls, tm_rel_insert_slot(ins, m), ins);
		if (++m == ins->nslots)
		{
			tm_rel_insert_flush(ins, m);
			m = 0;
		}
	}
	if (m > 0)
		tm_rel_insert_flush(ins, m);
	tm_rel_insert_close(ins);
	CommandCounterIncrement();
	tm_groups_wake(&left);
	return n;
}
