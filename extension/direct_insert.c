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
 * no INSERT privilege for the caller or a column this code does not know, the caller
 * falls back to the SQL statement, which does everything an INSERT does (and raises
 * the permission error itself).
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

#include "taskmill.h"

/* '{}'::jsonb, the default meta, made once per backend */
static Datum
empty_object(void)
{
	static Datum value = (Datum) 0;

	if (value == (Datum) 0)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		value = DirectFunctionCall1(jsonb_in, CStringGetDatum("{}"));
		MemoryContextSwitchTo(old);
	}
	return value;
}

/* The columns this code fills, matched by name once per call. */
typedef enum TaskColumn
{
	COL_DROPPED,
	COL_ID,
	COL_QUEUE_NAME,
	COL_OPERATION_ID,
	COL_PAYLOAD,
	COL_META,
	COL_PRIORITY,
	COL_ATTEMPTS,
	COL_MAX_ATTEMPTS,
	COL_TASK_GROUP_ID,
	COL_IDEMPOTENCY_KEY,
	COL_EPHEMERAL,
	COL_CREATED_AT,
	COL_SCHEDULED_AT,			/* scheduled_at and visible_at */
	COL_EXPIRES_AT,
	COL_NULL,					/* lease, last_error, dlq_at, dlq_reason */
	COL_UNKNOWN
} TaskColumn;

static TaskColumn
column_of(Form_pg_attribute att)
{
	static const struct
	{
		const char *name;
		TaskColumn	col;
	}			names[] = {
		{"id", COL_ID}, {"queue_name", COL_QUEUE_NAME}, {"operation_id", COL_OPERATION_ID},
		{"payload", COL_PAYLOAD}, {"meta", COL_META}, {"priority", COL_PRIORITY},
		{"attempts", COL_ATTEMPTS}, {"max_attempts", COL_MAX_ATTEMPTS},
		{"task_group_id", COL_TASK_GROUP_ID}, {"idempotency_key", COL_IDEMPOTENCY_KEY},
		{"ephemeral", COL_EPHEMERAL}, {"created_at", COL_CREATED_AT},
		{"scheduled_at", COL_SCHEDULED_AT}, {"visible_at", COL_SCHEDULED_AT},
		{"expires_at", COL_EXPIRES_AT}, {"lease", COL_NULL}, {"last_error", COL_NULL},
		{"dlq_at", COL_NULL}, {"dlq_reason", COL_NULL},
	};

	if (att->attisdropped)
		return COL_DROPPED;
	for (int i = 0; i < (int) lengthof(names); i++)
		if (strcmp(NameStr(att->attname), names[i].name) == 0)
			return names[i].col;
	return COL_UNKNOWN;
}

static void
fill_column(TaskColumn col, const TmNewTask *t, Datum *value, bool *isnull)
{
	*isnull = false;
	switch (col)
	{
		case COL_ID:
			*value = Int64GetDatum(t->id);
			break;
		case COL_QUEUE_NAME:
			*value = t->queue_name;
			break;
		case COL_OPERATION_ID:
			*value = t->operation_id;
			break;
		case COL_PAYLOAD:
			*value = t->payload;
			*isnull = t->payload_null;
			break;
		case COL_META:
			*value = t->meta_null ? empty_object() : t->meta;
			break;
		case COL_PRIORITY:
			*value = Int32GetDatum(t->priority);
			break;
		case COL_ATTEMPTS:
			*value = Int32GetDatum(0);
			break;
		case COL_MAX_ATTEMPTS:
			*value = Int32GetDatum(t->max_attempts);
			break;
		case COL_TASK_GROUP_ID:
			*value = t->task_group_id;
			*isnull = t->task_group_id_null;
			break;
		case COL_IDEMPOTENCY_KEY:
			*value = t->idempotency_key;
			break;
		case COL_EPHEMERAL:
			*value = BoolGetDatum(t->ephemeral);
			break;
		case COL_CREATED_AT:
			*value = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());	/* now() */
			break;
		case COL_SCHEDULED_AT:
			*value = t->scheduled_at;
			break;
		case COL_EXPIRES_AT:
			*value = t->expires_at;
			*isnull = t->expires_at_null;
			break;
		case COL_DROPPED:
		case COL_NULL:
		case COL_UNKNOWN:
			*value = (Datum) 0;
			*isnull = true;
			break;
	}
}

/* rows per heap_multi_insert; the slots are reused from chunk to chunk */
#define CHUNK_ROWS	100

/*
 * Insert the tasks (n >= 1); false (nothing done) when the fast path does not apply
 * and the caller must use the SQL statement. Many rows go in as COPY puts them in: one
 * heap_multi_insert (a WAL record per page, not per row), then each row's index
 * entries.
 */
bool
tm_insert_tasks_direct(const TmNewTask *tasks, int n)
{
	Oid			relid = get_relname_relid("tasks", get_namespace_oid("taskmill", false));
	Relation	rel;
	TupleDesc	desc;
	EState	   *estate;
	RangeTblEntry *rte;
	ResultRelInfo *rri;
	TupleTableSlot **slots;
	TaskColumn *cols;
	int			nslots;

	if (!OidIsValid(relid) ||
		pg_class_aclcheck(relid, GetUserId(), ACL_INSERT) != ACLCHECK_OK ||
		check_enable_rls(relid, InvalidOid, true) != RLS_NONE)
		return false;

	rel = table_open(relid, RowExclusiveLock);
	desc = RelationGetDescr(rel);
	if (rel->rd_rel->relkind != RELKIND_RELATION || rel->trigdesc != NULL ||
		(desc->constr && desc->constr->has_generated_stored))
	{
		table_close(rel, RowExclusiveLock);
		return false;
	}

	cols = palloc(sizeof(TaskColumn) * desc->natts);
	for (int i = 0; i < desc->natts; i++)
	{
		cols[i] = column_of(TupleDescAttr(desc, i));
		if (cols[i] == COL_UNKNOWN)
		{
			table_close(rel, RowExclusiveLock);
			return false;
		}
	}

	estate = CreateExecutorState();
	/* a one-entry range table, so that a constraint error can describe the row */
	rte = makeNode(RangeTblEntry);
	rte->rtekind = RTE_RELATION;
	rte->relid = relid;
	rte->relkind = RELKIND_RELATION;
	rte->rellockmode = RowExclusiveLock;
	rte->requiredPerms = ACL_INSERT;
	ExecInitRangeTable(estate, list_make1(rte));
	rri = makeNode(ResultRelInfo);
	InitResultRelInfo(rri, rel, 1, NULL, 0);
	estate->es_output_cid = GetCurrentCommandId(true);
	ExecOpenIndices(rri, false);

	nslots = Min(n, CHUNK_ROWS);
	slots = palloc(sizeof(TupleTableSlot *) * nslots);
	for (int r = 0; r < nslots; r++)
		slots[r] = ExecInitExtraTupleSlot(estate, desc, &TTSOpsVirtual);

	for (int done = 0; done < n; done += nslots)
	{
		int			m = Min(nslots, n - done);

		for (int r = 0; r < m; r++)
		{
			TupleTableSlot *slot = slots[r];

			ExecClearTuple(slot);
			for (int i = 0; i < desc->natts; i++)
				fill_column(cols[i], &tasks[done + r], &slot->tts_values[i], &slot->tts_isnull[i]);
			ExecStoreVirtualTuple(slot);
			if (desc->constr)
				ExecConstraints(rri, slot, estate);
		}
		if (m == 1)
			simple_table_tuple_insert(rel, slots[0]);
		else
			table_multi_insert(rel, slots, m, estate->es_output_cid, 0, NULL);
		for (int r = 0; r < m; r++)
			list_free(ExecInsertIndexTuples(rri, slots[r], estate, false, false, NULL, NIL));
		ResetPerTupleExprContext(estate);
		CHECK_FOR_INTERRUPTS();
	}

	ExecCloseIndices(rri);
	ExecResetTupleTable(estate->es_tupleTable, false);
	FreeExecutorState(estate);
	table_close(rel, NoLock);	/* the lock stays until the end of the transaction */

	/* later statements of the caller's transaction see the tasks, as after an INSERT */
	CommandCounterIncrement();
	return true;
}
