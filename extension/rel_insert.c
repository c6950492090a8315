/*
 * rel_insert.c
 *		Rows into one of the queue's tables without the SQL layer: enqueue's tasks
 *		(direct_insert.c) and ack's results (ack_results.c).
 *
 * Through SPI, an INSERT also pays for a snapshot, a plan cache check, an executor start
 * and end and two memory contexts. Here rows go in the way logical replication's apply
 * worker inserts them (ExecSimpleRelationInsert): NOT NULLs, CHECKs and the index
 * entries as in an INSERT statement, many rows as COPY puts them in (one multi-insert,
 * a WAL record per page, not per row, then each row's index entries).
 *
 * Only for a plain table: when it has triggers, row-level security, generated columns,
 * or the permission check (ExecutorCheckPerms_hook included, so sepgsql and pgaudit see
 * this insert as they see the statement) says no, tm_rel_insert_open says false and the
 * caller runs its SQL statement, which does everything an INSERT does (and raises the
 * permission error itself). What differs between PostgreSQL versions is in pg_compat.h.
 */
#include "postgres.h"

#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "utils/acl.h"
#include "utils/rel.h"
#include "utils/rls.h"

#include "pg_compat.h"
#include "taskmill.h"

/*
 * May the current user insert these columns into relid? Asked as the executor asks it
 * for an INSERT statement, so ExecutorCheckPerms_hook sees it. Fills ins->rte (and,
 * from PostgreSQL 16, ins->perminfos) for ExecInitRangeTable.
 */
static bool
insert_permitted(TmRelInsert *ins, Oid relid, Bitmapset *table_cols)
{
	RangeTblEntry *rte = makeNode(RangeTblEntry);
	TmPermInfo *perm;

	ins->rte = rte;
	rte->rtekind = RTE_RELATION;
	rte->relid = relid;
	rte->relkind = RELKIND_RELATION;
	rte->rellockmode = RowExclusiveLock;
	perm = tm_rte_perminfo(rte, &ins->perminfos);
	perm->requiredPerms = ACL_INSERT;
	perm->checkAsUser = InvalidOid;
	/* copied: the caller's cached table description may be rebuilt once the lock is taken */
	perm->insertedCols = bms_copy(table_cols);
	return tm_check_permissions(list_make1(rte), ins->perminfos);
}

/*
 * Open relid (RowExclusiveLock, held to the end of the transaction) for a direct insert
 * of inserted_cols; false, with nothing open, when an INSERT statement must do it.
 */
bool
tm_rel_insert_open(TmRelInsert *ins, Oid relid, Bitmapset *inserted_cols)
{
	Relation	rel;
	TupleDesc	desc;

	memset(ins, 0, sizeof(*ins));
	if (check_enable_rls(relid, InvalidOid, true) != RLS_NONE ||
		!insert_permitted(ins, relid, inserted_cols))
		return false;

	rel = table_open(relid, RowExclusiveLock);
	desc = RelationGetDescr(rel);
	if (rel->rd_rel->relkind != RELKIND_RELATION || rel->trigdesc != NULL ||
		tm_has_generated_columns(desc->constr))
	{
		table_close(rel, RowExclusiveLock);
		return false;
	}
	ins->rel = rel;
	ins->estate = CreateExecutorState();
	/* a one-entry range table, so that a constraint error can describe the row */
	tm_init_range_table(ins->estate, list_make1(ins->rte), ins->perminfos);
	ins->rri = makeNode(ResultRelInfo);
	InitResultRelInfo(ins->rri, rel, 1, NULL, 0);
	ExecOpenIndices(ins->rri, false);
	tm_prepare_insert_exprs(ins->rri, ins->estate);
	return true;
}

/*
 * Slots for nrows rows per flush (at most 100; the slots are reused from flush to
 * flush), and the caller's column defaults (cols: one per attribute of the table,
 * natts of them, living as long as the insert) for tm_rel_insert_default.
 */
void
tm_rel_insert_prepare(TmRelInsert *ins, const TmColumn *cols, int natts, int nrows)
{
	TupleDesc	desc = RelationGetDescr(ins->rel);

	Assert(natts == desc->natts);
	ins->cols = cols;
	ins->defaults = palloc0(sizeof(ExprState *) * natts);
	ins->econtext = GetPerTupleExprContext(ins->estate);
	for (int i = 0; i < natts; i++)
		if (cols[i].kind == TDK_EXPR)
			ins->defaults[i] = ExecInitExpr(cols[i].expr, NULL);
	ins->nslots = Max(1, Min(nrows, 100));
	ins->slots = palloc(sizeof(TupleTableSlot *) * ins->nslots);
	for (int r = 0; r < ins->nslots; r++)
		ins->slots[r] = ExecInitExtraTupleSlot(ins->estate, desc, &TTSOpsVirtual);
}

/* Row r's slot of the next flush, empty: the caller sets every tts_values/tts_isnull. */
TupleTableSlot *
tm_rel_insert_slot(TmRelInsert *ins, int r)
{
	Assert(r < ins->nslots);
	return ExecClearTuple(ins->slots[r]);
}

/*
 * Insert the first m filled slots: checks, heap, then each row's index entries. The
 * command id is taken now, so SPI statements run since the open are seen as before.
 */
void
tm_rel_insert_flush(TmRelInsert *ins, int m)
{
	EState	   *estate = ins->estate;
	bool		checks = RelationGetDescr(ins->rel)->constr != NULL;

	estate->es_output_cid = GetCurrentCommandId(true);
	for (int r = 0; r < m; r++)
	{
		ExecStoreVirtualTuple(ins->slots[r]);
		if (checks)
			ExecConstraints(ins->rri, ins->slots[r], estate);
	}
	if (m == 1)
		simple_table_tuple_insert(ins->rel, ins->slots[0]);
	else if (m > 1)
		table_multi_insert(ins->rel, ins->slots, m, estate->es_output_cid, 0, NULL);
	for (int r = 0; r < m; r++)
		tm_insert_index_entries(ins->rri, ins->slots[r], estate);
	ResetPerTupleExprContext(estate);
	CHECK_FOR_INTERRUPTS();
}

/*
 * Close what tm_rel_insert_open opened; the lock stays until the end of the
 * transaction. The caller makes the rows visible (CommandCounterIncrement).
 */
void
tm_rel_insert_close(TmRelInsert *ins)
{
	ExecCloseIndices(ins->rri);
	ExecResetTupleTable(ins->estate->es_tupleTable, false);
	FreeExecutorState(ins->estate);
	table_close(ins->rel, NoLock);
	ins->rel = NULL;
}
