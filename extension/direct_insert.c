/*
 * direct_insert.c
 *		The enqueue INSERT without the SQL layer.
 *
 * A one-task enqueue is one short transaction, and at one client its rate is that of
 * PostgreSQL's commits. Through SPI, the INSERT also paid for a snapshot, a plan cache
 * check, an executor start and end and two memory contexts: together about a tenth of
 * the whole round trip. Here the row goes in the way logical replication's apply
 * worker inserts rows (ExecSimpleRelationInsert): NOT NULLs, the CHECK and the index
 * entries as in an INSERT statement.
 *
 * Used only for tasks without a caller's idempotency key (nothing to resolve with
 * ON CONFLICT) on a plain table: when taskmill.tasks has triggers, row-level security,
 * generated columns, or the permission check (ExecutorCheckPerms_hook included, so
 * sepgsql and pgaudit see this insert as they see the statement) says no, the caller
 * falls back to the SQL statement, which does everything an INSERT does (and raises
 * the permission error itself).
 *
 * Kept honest: where each column's value comes from, and the defaults of the columns
 * no field fills, come from one place (tm_task_table, task_fields.c, which reads them
 * from the catalog); the regression test queue_direct_insert compares rows written
 * here with rows written by the SQL statement. Version differences (15 .. 17) are
 * guarded by PG_VERSION_NUM.
 */
#include "postgres.h"

#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/timestamp.h"

#include "taskmill.h"

/*
 * May the current user insert these columns into taskmill.tasks? Asked as the executor
 * asks it for an INSERT statement, so ExecutorCheckPerms_hook sees it. Fills rte (and,
 * from PostgreSQL 16, *perminfos) for ExecInitRangeTable.
 */
static bool
insert_permitted(const TmTaskTable *table, RangeTblEntry *rte, List **perminfos)
{
	Bitmapset  *cols = table->inserted_cols;

	rte->rtekind = RTE_RELATION;
	rte->relid = table->relid;
	rte->relkind = RELKIND_RELATION;
	rte->rellockmode = RowExclusiveLock;
#if PG_VERSION_NUM >= 160000
	{
		RTEPermissionInfo *perminfo = makeNode(RTEPermissionInfo);

		perminfo->relid = table->relid;
		perminfo->inh = false;
		perminfo->requiredPerms = ACL_INSERT;
		perminfo->checkAsUser = InvalidOid;
		perminfo->insertedCols = cols;
		rte->perminfoindex = 1;
		*perminfos = list_make1(perminfo);
		return ExecCheckPermissions(list_make1(rte), *perminfos, false);
	}
#else
	rte->requiredPerms = ACL_INSERT;
	rte->checkAsUser = InvalidOid;
	rte->insertedCols = cols;
	*perminfos = NIL;
	return ExecCheckRTPerms(list_make1(rte), false);
#endif
}

/* Row r's value of each column, as the SQL statement would write it. */
static void
fill_row(const TmTaskTable *table, text *queue, const TmNewTask *t, TupleTableSlot *slot,
		 ExprState **states, ExprContext *econtext)
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
			case TCS_DEFAULT:
				*value = tm_column_default(col, states[i], econtext, isnull);
				break;
			case TCS_DROPPED:
				*value = (Datum) 0;
				*isnull = true;
				break;
		}
	}
}

/* ExecInsertIndexTuples' arguments changed in PostgreSQL 16. */
static void
insert_index_entries(ResultRelInfo *rri, TupleTableSlot *slot, EState *estate)
{
#if PG_VERSION_NUM >= 160000
	list_free(ExecInsertIndexTuples(rri, slot, estate, false, false, NULL, NIL, false));
#else
	list_free(ExecInsertIndexTuples(rri, slot, estate, false, false, NULL, NIL));
#endif
}

/* rows per table_multi_insert; the slots are reused from chunk to chunk */
#define CHUNK_ROWS	100

/* Insert the rows chunk by chunk: checks, heap, then each row's index entries. */
static void
insert_rows(const TmTaskTable *table, Relation rel, text *queue, const TmNewTask *tasks,
			int n, EState *estate, ResultRelInfo *rri)
{
	TupleDesc	desc = RelationGetDescr(rel);
	ExprState **states = palloc0(sizeof(ExprState *) * table->natts);
	ExprContext *econtext = GetPerTupleExprContext(estate);
	int			nslots = Min(n, CHUNK_ROWS);
	TupleTableSlot **slots = palloc(sizeof(TupleTableSlot *) * nslots);

	for (int i = 0; i < table->natts; i++)
		if (table->cols[i].source == TCS_DEFAULT && table->cols[i].kind == TDK_EXPR)
			states[i] = ExecInitExpr(table->cols[i].expr, NULL);
	for (int r = 0; r < nslots; r++)
		slots[r] = ExecInitExtraTupleSlot(estate, desc, &TTSOpsVirtual);

	for (int done = 0; done < n; done += nslots)
	{
		int			m = Min(nslots, n - done);

		for (int r = 0; r < m; r++)
		{
			ExecClearTuple(slots[r]);
			fill_row(table, queue, &tasks[done + r], slots[r], states, econtext);
			ExecStoreVirtualTuple(slots[r]);
			if (desc->constr)
				ExecConstraints(rri, slots[r], estate);
		}
		if (m == 1)
			simple_table_tuple_insert(rel, slots[0]);
		else
			table_multi_insert(rel, slots, m, estate->es_output_cid, 0, NULL);
		for (int r = 0; r < m; r++)
			insert_index_entries(rri, slots[r], estate);
		ResetPerTupleExprContext(estate);
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * Insert the tasks (n >= 1, every field set or defaulted, keys generated); false
 * (nothing done) when the fast path does not apply and the caller must use the SQL
 * statement. Many rows go in as COPY puts them in: one multi-insert (a WAL record per
 * page, not per row), then each row's index entries.
 */
bool
tm_insert_tasks_direct(text *queue, const TmNewTask *tasks, int n)
{
	const TmTaskTable *table = tm_task_table();
	Relation	rel;
	EState	   *estate;
	RangeTblEntry *rte = makeNode(RangeTblEntry);
	List	   *perminfos;
	ResultRelInfo *rri;

	if (check_enable_rls(table->relid, InvalidOid, true) != RLS_NONE ||
		!insert_permitted(table, rte, &perminfos))
		return false;

	rel = table_open(table->relid, RowExclusiveLock);
	table = tm_task_table();	/* the lock took in any change to the table */
	if (rel->rd_rel->relkind != RELKIND_RELATION || rel->trigdesc != NULL ||
		table->has_generated || RelationGetDescr(rel)->natts != table->natts)
	{
		table_close(rel, RowExclusiveLock);
		return false;
	}

	estate = CreateExecutorState();
	/* a one-entry range table, so that a constraint error can describe the row */
#if PG_VERSION_NUM >= 160000
	ExecInitRangeTable(estate, list_make1(rte), perminfos);
#else
	ExecInitRangeTable(estate, list_make1(rte));
#endif
	rri = makeNode(ResultRelInfo);
	InitResultRelInfo(rri, rel, 1, NULL, 0);
	estate->es_output_cid = GetCurrentCommandId(true);
	ExecOpenIndices(rri, false);
	tm_prepare_insert_exprs(rri, estate);

	insert_rows(table, rel, queue, tasks, n, estate, rri);

	ExecCloseIndices(rri);
	ExecResetTupleTable(estate->es_tupleTable, false);
	FreeExecutorState(estate);
	table_close(rel, NoLock);	/* the lock stays until the end of the transaction */

	/* later statements of the caller's transaction see the tasks, as after an INSERT */
	CommandCounterIncrement();
	return true;
}
