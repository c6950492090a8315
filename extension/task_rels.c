/*
 * task_rels.c
 *		taskmill.tasks and the indexes a claim looks into, found once per backend, and
 *		cheap probes of those indexes that tell dequeue which parts of its statement it
 *		can leave out.
 *
 * A claim statement with an arm for every kind of candidate (due waiting tasks, timed
 * out deliveries, FIFO groups) pays for each arm's executor start-up and index descent
 * on every call, though on most calls each of them finds nothing. One probe of the
 * arm's index from C (no executor, no heap access) costs a fraction of that, so dequeue
 * probes first and runs a statement with only the arms that may find something
 * (dequeue.c).
 *
 * A probe reads index entries under SnapshotAny: it sees every entry that is there,
 * whether its row is committed, in progress or dead (less the entries already marked
 * dead), so "nothing found" means nothing the statement's snapshot could see was there
 * when the probe ran. A row that enters the range after the probe is left for the next
 * claim, as if it had come after this one.
 *
 * OIDs are cached until a relcache invalidation of taskmill.tasks or of one of the
 * indexes (ALTER EXTENSION UPDATE, REINDEX CONCURRENTLY, DROP EXTENSION ...).
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/nbtree.h"
#include "access/relscan.h"
#include "access/table.h"
#include "access/xact.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "pg_compat.h"
#include "taskmill.h"

typedef struct TaskRels
{
	bool		valid;
	Oid			tasks;
	Oid			index[TM_PROBE_COUNT];
} TaskRels;

static TaskRels rels;
static bool callback_registered = false;

static const char *const index_names[TM_PROBE_COUNT] = {
	[TM_PROBE_WAITING] = "tasks_waiting_idx",
	[TM_PROBE_LEASED] = "tasks_leased_idx",
	[TM_PROBE_GROUPS] = "tasks_group_idx",
};

static void
rels_invalidate(Datum arg, Oid relid)
{
	if (!rels.valid)
		return;
	if (relid == InvalidOid || relid == rels.tasks)
		rels.valid = false;
	for (int i = 0; i < TM_PROBE_COUNT; i++)
		if (relid == rels.index[i])
			rels.valid = false;
}

static const TaskRels *
task_rels(void)
{
	Oid			nsp;

	if (rels.valid)
		return &rels;
	if (!callback_registered)
	{
		CacheRegisterRelcacheCallback(rels_invalidate, (Datum) 0);
		callback_registered = true;
	}
	rels.tasks = tm_task_table()->relid;
	nsp = get_rel_namespace(rels.tasks);
	for (int i = 0; i < TM_PROBE_COUNT; i++)
		rels.index[i] = get_relname_relid(index_names[i], nsp);
	rels.valid = true;
	return &rels;
}

/* Whether index may hold an entry of queue (and, with nkeys 2, one due by now()). */
static bool
probe_index(Relation heap, Oid indexoid, Datum queue, int nkeys)
{
	Relation	index = index_open(indexoid, AccessShareLock);
	IndexScanDesc scan;
	ScanKeyData keys[2];
	bool		found;

	ScanKeyEntryInitialize(&keys[0], 0, 1, BTEqualStrategyNumber, InvalidOid,
						   index->rd_indcollation[0], F_TEXTEQ, queue);
	if (nkeys == 2)
		ScanKeyEntryInitialize(&keys[1], 0, 2, BTLessEqualStrategyNumber, InvalidOid,
							   InvalidOid, F_TIMESTAMPTZ_LE,
							   TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()));
	scan = tm_index_beginscan(heap, index, SnapshotAny, nkeys, 0);
	index_rescan(scan, keys, nkeys, NULL, 0);
	found = index_getnext_tid(scan, ForwardScanDirection) != NULL;
	index_endscan(scan);
	index_close(index, AccessShareLock);
	return found;
}

/*
 * Of the probes asked for (TM_PROBE_BIT bits), those whose index may hold an entry of
 * queue: for TM_PROBE_WAITING and TM_PROBE_LEASED one whose time (second key column) is
 * not after now(), for TM_PROBE_GROUPS any. An index that is not there counts as found
 * (the statement then keeps the arm, or fails on the missing index itself).
 */
uint32
tm_probe(Datum queue, uint32 probes)
{
	const TaskRels *r = task_rels();
	Relation	heap = table_open(r->tasks, AccessShareLock);
	uint32		found = 0;

	for (int p = 0; p < TM_PROBE_COUNT; p++)
	{
		if (!(probes & TM_PROBE_BIT(p)))
			continue;
		if (!OidIsValid(r->index[p]) ||
			probe_index(heap, r->index[p], queue, p == TM_PROBE_GROUPS ? 1 : 2))
			found |= TM_PROBE_BIT(p);
	}
	table_close(heap, AccessShareLock);
	return found;
}
