/*
 * direct_insert.c
 *		The one-task enqueue's INSERT without the SQL layer.
 *
 * A one-task enqueue is one short transaction, and at one client its rate is that of
 * PostgreSQL's commits. Through SPI, the INSERT also paid for a snapshot, a plan cache
 * check, an executor start and end and two memory contexts: together about a tenth of
 * the whole round trip. Here the row goes in the way logical replication's apply
 * worker inserts rows (ExecSimpleRelationInsert): NOT NULLs, the CHECK and the index
 * entries as in an INSERT statement.
 *
 * Used only for a task without a caller's idempotency key (nothing to resolve with
 * ON CONFLICT) on a plain table: when taskmill.tasks has triggers, row-level security,
 * no INSERT privilege for the caller or a column this code does not know, the caller
 * falls back to the SQL statement, which does everything an INSERT does (and raises
 * the permission error itself).
 */
#include "postgres.h"

#include "access/table.h"
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

/* Fill one column of the new row by its name; false for a column we do not know. */
static bool
fill_column(const char *name, const TmNewTask *t, Datum *value, bool *isnull)
{
	*isnull = false;
	if (strcmp(name, "id") == 0)
		*value = Int64GetDatum(t->id);
	else if (strcmp(name, "queue_name") == 0)
		*value = t->queue_name;
	else if (strcmp(name, "operation_id") == 0)
		*value = t->operation_id;
	else if (strcmp(name, "payload") == 0)
		*value = t->payload, *isnull = t->payload_null;
	else if (strcmp(name, "meta") == 0)
		*value = t->meta_null ? empty_object() : t->meta;
	else if (strcmp(name, "priority") == 0)
		*value = Int32GetDatum(t->priority);
	else if (strcmp(name, "attempts") == 0)
		*value = Int32GetDatum(0);
	else if (strcmp(name, "max_attempts") == 0)
		*value = Int32GetDatum(t->max_attempts);
	else if (strcmp(name, "task_group_id") == 0)
		*value = t->task_group_id, *isnull = t->task_group_id_null;
	else if (strcmp(name, "idempotency_key") == 0)
		*value = t->idempotency_key;
	else if (strcmp(name, "ephemeral") == 0)
		*value = BoolGetDatum(t->ephemeral);
	else if (strcmp(name, "created_at") == 0)
		*value = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());	/* now() */
	else if (strcmp(name, "scheduled_at") == 0 || strcmp(name, "visible_at") == 0)
		*value = t->scheduled_at;
	else if (strcmp(name, "expires_at") == 0)
		*value = t->expires_at, *isnull = t->expires_at_null;
	else if (strcmp(name, "lease") == 0 || strcmp(name, "last_error") == 0 ||
			 strcmp(name, "dlq_at") == 0 || strcmp(name, "dlq_reason") == 0)
		*value = (Datum) 0, *isnull = true;
	else
		return false;
	return true;
}

/*
 * Insert the task; false (nothing done) when the fast path does not apply and the
 * caller must use the SQL statement.
 */
bool
tm_insert_task_direct(const TmNewTask *t)
{
	Oid			relid = get_relname_relid("tasks", get_namespace_oid("taskmill", false));
	Relation	rel;
	TupleDesc	desc;
	EState	   *estate;
	RangeTblEntry *rte;
	ResultRelInfo *rri;
	TupleTableSlot *slot;

	if (!OidIsValid(relid) ||
		pg_class_aclcheck(relid, GetUserId(), ACL_INSERT) != ACLCHECK_OK ||
		check_enable_rls(relid, InvalidOid, true) != RLS_NONE)
		return false;

	rel = table_open(relid, RowExclusiveLock);
	desc = RelationGetDescr(rel);
	if (rel->rd_rel->relkind != RELKIND_RELATION || rel->trigdesc != NULL)
	{
		table_close(rel, RowExclusiveLock);
		return false;
	}

	estate = CreateExecutorState();
	slot = ExecInitExtraTupleSlot(estate, desc, &TTSOpsVirtual);
	ExecClearTuple(slot);
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped)
		{
			slot->tts_isnull[i] = true;
			continue;
		}
		if (!fill_column(NameStr(att->attname), t, &slot->tts_values[i], &slot->tts_isnull[i]))
		{
			ExecResetTupleTable(estate->es_tupleTable, false);
			FreeExecutorState(estate);
			table_close(rel, RowExclusiveLock);
			return false;
		}
	}
	ExecStoreVirtualTuple(slot);

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

	ExecSimpleRelationInsert(rri, estate, slot);

	ExecCloseIndices(rri);
	ExecResetTupleTable(estate->es_tupleTable, false);
	FreeExecutorState(estate);
	table_close(rel, NoLock);	/* the lock stays until the end of the transaction */

	/* later statements of the caller's transaction see the task, as after an INSERT */
	CommandCounterIncrement();
	return true;
}
