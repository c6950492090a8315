/*
 * result_table.c
 *		taskmill.task_results as an ack fills it, read from the catalog: per column,
 *		where its value comes from (TM_RESULT_COPIED, completed_at, result) and the
 *		default of each column nothing fills, so the direct path (ack_results.c) writes
 *		what the ack's INSERT statement (ack.c) writes.
 *
 * Read once per backend and again after either table changes (relcache invalidation).
 * A layout this code does not know (a column an ack fills missing, or of another type
 * than the task's column it is copied from; an identity column) is not "known": acks
 * then take the SQL statement, which coerces, raises or numbers as an INSERT does.
 */
#include "postgres.h"

#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "taskmill.h"

#define TM_COLUMN_STRING_(c)	#c,
static const char *const copied_names[TRC_COUNT] = {TM_RESULT_COPIED(TM_COLUMN_STRING_)};

static MemoryContext table_cxt = NULL;
static TmResultTable result_table;
static Oid	tasks_relid = InvalidOid;

static void
result_table_invalidate(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == result_table.relid || relid == tasks_relid)
		result_table.relid = InvalidOid;
}

/* Does att have the type of the value an ack writes into it (want_type, want_typmod)? */
static bool
has_type(Form_pg_attribute att, Oid want_type, int32 want_typmod)
{
	return att->atttypid == want_type && att->atttypmod == want_typmod;
}

/* How column i (att) of task_results gets its value; false when this code cannot tell. */
static bool
read_result_column(Relation rel, Form_pg_attribute att, int i)
{
	const char *name = NameStr(att->attname);
	TmResultSource *source = &result_table.source[i];

	*source = TRS_DEFAULT;
	if (att->attisdropped)
	{
		*source = TRS_DROPPED;
		return true;
	}
	tm_read_column_default(rel, att, &result_table.cols[i]);
	for (int k = 0; k < TRC_COUNT; k++)
		if (strcmp(name, copied_names[k]) == 0)
		{
			AttrNumber	tasks_att = get_attnum(tasks_relid, name);
			Oid			type;
			int32		typmod;
			Oid			coll;

			*source = TRS_COPIED;
			result_table.copied[i] = k;
			if (tasks_att == InvalidAttrNumber)
				return false;
			get_atttypetypmodcoll(tasks_relid, tasks_att, &type, &typmod, &coll);
			return has_type(att, type, typmod);
		}
	if (strcmp(name, "completed_at") == 0)
	{
		*source = TRS_COMPLETED_AT;
		return has_type(att, TIMESTAMPTZOID, -1);
	}
	if (strcmp(name, "result") == 0)
	{
		*source = TRS_RESULT;
		return has_type(att, JSONBOID, -1);
	}
	return !att->attidentity && !att->attgenerated;
}

/* Read task_results' columns into result_table (in table_cxt); whether all are known. */
static bool
read_result_columns(Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);
	bool		known = true;
	int			filled = 0;

	result_table.natts = desc->natts;
	result_table.cols = palloc0(sizeof(TmColumn) * desc->natts);
	result_table.source = palloc0(sizeof(TmResultSource) * desc->natts);
	result_table.copied = palloc0(sizeof(int) * desc->natts);
	for (int i = 0; i < desc->natts; i++)
	{
		known &= read_result_column(rel, TupleDescAttr(desc, i), i);
		if (result_table.source[i] == TRS_DEFAULT || result_table.source[i] == TRS_DROPPED)
			continue;
		filled++;
		result_table.inserted_cols =
			bms_add_member(result_table.inserted_cols, i + 1 - FirstLowInvalidHeapAttributeNumber);
	}
	return known && filled == TRC_COUNT + 2;
}

/* taskmill.task_results as an ack fills it (see the top of the file). */
const TmResultTable *
tm_result_table(void)
{
	Relation	rel;
	MemoryContext old;

	/* valid until an invalidation of either table (a drop included) resets relid */
	if (OidIsValid(result_table.relid))
		return &result_table;
	tasks_relid = get_relname_relid("tasks", get_namespace_oid("taskmill", false));
	if (!OidIsValid(tasks_relid))
		elog(ERROR, "taskmill: table taskmill.tasks is missing");
	rel = tm_open_cached_table("task_results", &table_cxt, result_table_invalidate);
	memset(&result_table, 0, sizeof(result_table));

	old = MemoryContextSwitchTo(table_cxt);
	result_table.known = read_result_columns(rel);
	MemoryContextSwitchTo(old);
	result_table.relid = RelationGetRelid(rel);
	table_close(rel, AccessShareLock);
	return &result_table;
}
