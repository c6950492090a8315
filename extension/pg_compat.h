/*
 * pg_compat.h
 *		Every difference between the PostgreSQL major versions taskmill builds against
 *		(15, 16, 17 and 18), each as a macro or a static inline function named for what
 *		it does, so that the .c files have no PG_VERSION_NUM tests of their own.
 *
 * A new major version's break goes here, next to the older spellings, and the callers
 * keep one body.
 */
#ifndef TASKMILL_PG_COMPAT_H
#define TASKMILL_PG_COMPAT_H

#include "postgres.h"

#include "access/genam.h"
#include "access/tupdesc.h"
#include "commands/vacuum.h"
#include "executor/executor.h"
#include "nodes/bitmapset.h"
#include "nodes/parsenodes.h"
#include "storage/bufmgr.h"
#include "storage/lock.h"
#include "utils/memutils.h"

/*
 * The node that holds a relation's permission fields for an insert: from 16 an
 * RTEPermissionInfo beside the range table entry, before it the entry itself. The
 * fields taskmill sets (requiredPerms, checkAsUser, insertedCols) have the same names
 * in both.
 */
#if PG_VERSION_NUM >= 160000
typedef RTEPermissionInfo TmPermInfo;
#else
typedef RangeTblEntry TmPermInfo;
#endif

/*
 * The permission node of rte, the only entry of a one-relation range table, and in
 * *perminfos the list that goes with that range table (NIL before 16).
 */
static inline TmPermInfo *
tm_rte_perminfo(RangeTblEntry *rte, List **perminfos)
{
#if PG_VERSION_NUM >= 160000
	RTEPermissionInfo *perm = makeNode(RTEPermissionInfo);

	perm->relid = rte->relid;
	perm->inh = false;
	rte->perminfoindex = 1;
	*perminfos = list_make1(perm);
	return perm;
#else
	*perminfos = NIL;
	return rte;
#endif
}

/* Does the current user hold the permissions rtable asks for? (ExecutorCheckPerms_hook too) */
#if PG_VERSION_NUM >= 160000
#define tm_check_permissions(rtable, perminfos) \
	ExecCheckPermissions((rtable), (perminfos), false)
#else
#define tm_check_permissions(rtable, perminfos) \
	ExecCheckRTPerms((rtable), false)
#endif

/*
 * The executor state's range table: rtable's relations, none of them pruned (18 takes
 * the unpruned ones as a set; the only relation here is 1).
 */
#if PG_VERSION_NUM >= 180000
#define tm_init_range_table(estate, rtable, perminfos) \
	ExecInitRangeTable((estate), (rtable), (perminfos), bms_make_singleton(1))
#elif PG_VERSION_NUM >= 160000
#define tm_init_range_table(estate, rtable, perminfos) \
	ExecInitRangeTable((estate), (rtable), (perminfos))
#else
#define tm_init_range_table(estate, rtable, perminfos) \
	ExecInitRangeTable((estate), (rtable))
#endif

/* The index entries of an inserted row (not an update, no arbiter indexes); 16 added onlySummarizing. */
#if PG_VERSION_NUM >= 160000
#define tm_insert_index_entries(rri, slot, estate) \
	list_free(ExecInsertIndexTuples((rri), (slot), (estate), false, false, NULL, NIL, false))
#else
#define tm_insert_index_entries(rri, slot, estate) \
	list_free(ExecInsertIndexTuples((rri), (slot), (estate), false, false, NULL, NIL))
#endif

/* An index scan, without instrumentation (18 takes where EXPLAIN ANALYZE counts it). */
#if PG_VERSION_NUM >= 180000
#define tm_index_beginscan(heap, index, snapshot, nkeys, norderbys) \
	index_beginscan((heap), (index), (snapshot), NULL, (nkeys), (norderbys))
#else
#define tm_index_beginscan(heap, index, snapshot, nkeys, norderbys) \
	index_beginscan((heap), (index), (snapshot), (nkeys), (norderbys))
#endif

/* A ResultRelInfo's CHECK constraint states, one per constr->check (renamed in 18). */
#if PG_VERSION_NUM >= 180000
#define tm_rri_check_exprs(rri) ((rri)->ri_CheckConstraintExprs)
#else
#define tm_rri_check_exprs(rri) ((rri)->ri_ConstraintExprs)
#endif

/*
 * Does an INSERT evaluate this CHECK? From 18 a constraint may be NOT ENFORCED; the
 * executor leaves its state NULL and skips it.
 */
#if PG_VERSION_NUM >= 180000
#define tm_check_enforced(check) ((check)->ccenforced)
#else
#define tm_check_enforced(check) ((void) (check), true)
#endif

/*
 * Has the table generated columns (stored; from 18 also virtual, which an INSERT leaves
 * NULL in the row and its CHECKs read expanded)? constr may be NULL.
 */
#if PG_VERSION_NUM >= 180000
#define tm_has_generated_columns(constr) \
	((constr) != NULL && ((constr)->has_generated_stored || (constr)->has_generated_virtual))
#else
#define tm_has_generated_columns(constr) \
	((constr) != NULL && (constr)->has_generated_stored)
#endif

/* A table's dead tuples in its cumulative statistics (n_dead_tuples before 16). */
#if PG_VERSION_NUM >= 160000
#define tm_stat_dead_tuples(tabentry) ((tabentry)->dead_tuples)
#else
#define tm_stat_dead_tuples(tabentry) ((tabentry)->n_dead_tuples)
#endif

/*
 * VACUUM's options for the table itself: from 16 VACOPT_PROCESS_MAIN must be set for
 * the main fork to be vacuumed at all (PROCESS_MAIN false skips it); before, it always was.
 */
#if PG_VERSION_NUM >= 160000
#define TM_VACOPT_PROCESS_MAIN VACOPT_PROCESS_MAIN
#else
#define TM_VACOPT_PROCESS_MAIN 0
#endif

/*
 * The VacuumParams fields a VACUUM statement sets from settings (ExecVacuum): from 18,
 * the eager scan's failure rate from vacuum_max_eager_freeze_failure_rate (a table's
 * storage parameter still overrides it, in vacuum_rel). Nothing before 18.
 */
static inline void
tm_vacuum_params_from_settings(VacuumParams *params)
{
#if PG_VERSION_NUM >= 180000
	params->max_eager_freeze_failure_rate = vacuum_max_eager_freeze_failure_rate;
#endif
}

/*
 * vacuum() on rels, in a transaction it commits (starting a new one at the end); cxt
 * lives across its transactions. From 16 the caller makes what vacuum() made itself
 * before: its cross-transaction context and the buffer ring.
 */
static inline void
tm_vacuum(List *rels, VacuumParams *params, MemoryContext cxt)
{
#if PG_VERSION_NUM >= 160000
	MemoryContext vac_cxt = AllocSetContextCreate(cxt, "taskmill VACUUM", ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(vac_cxt);
	BufferAccessStrategy ring = GetAccessStrategy(BAS_VACUUM);

	MemoryContextSwitchTo(old);
	vacuum(rels, params, ring, vac_cxt, true);
	MemoryContextDelete(vac_cxt);
#else
	vacuum(rels, params, NULL, true);
#endif
}

/* Does this backend hold the lock in exactly this mode? (17 added "or stronger") */
#if PG_VERSION_NUM >= 170000
#define tm_lock_held_by_me(tag, mode) LockHeldByMe((tag), (mode), false)
#else
#define tm_lock_held_by_me(tag, mode) LockHeldByMe((tag), (mode))
#endif

#endif							/* TASKMILL_PG_COMPAT_H */
