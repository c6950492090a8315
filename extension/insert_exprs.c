/*
 * insert_exprs.c
 *		The expressions an INSERT evaluates for each row (CHECK constraints, partial
 *		index predicates, index expressions), parsed and planned once per backend
 *		instead of once per statement.
 *
 * The executor keeps these in the statement's ResultRelInfo, so each INSERT parses
 * every CHECK again (stringToNode) and plans every CHECK, index predicate and index
 * expression again (expression_planner). An enqueue of one task is one row, and that
 * preparation cost it more than the row's heap insert (perf of a one-task enqueue:
 * about 2 % of the backend's samples in tm_insert_tasks_direct, docs/benchmarks.md).
 * The direct inserts (rel_insert.c) keep the planned trees here, per relation, and
 * only turn them into ExprStates for each call (ExecInitExpr / ExecInitQual), as the
 * executor would after planning.
 *
 * A relcache invalidation of the relation (ALTER TABLE, CREATE / DROP INDEX ...)
 * marks its entry stale; the next call rebuilds it, and also when the relation's
 * CHECKs or indexes (by OID, in the executor's order) no longer match what was kept.
 * A stale entry's memory is freed only at that rebuild, never while a call may still
 * evaluate ExprStates made from it.
 */
#include "postgres.h"

#include "executor/executor.h"
#include "nodes/pg_list.h"
#include "optimizer/optimizer.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "pg_compat.h"
#include "taskmill.h"

typedef struct IndexExprs
{
	Oid			indexoid;
	List	   *predicate;		/* planned implicit-AND list, or NIL */
	List	   *expressions;	/* planned, or NIL */
} IndexExprs;

typedef struct RelExprs
{
	Oid			relid;			/* hash key */
	bool		valid;
	MemoryContext cxt;			/* everything below */
	int			ncheck;
	Expr	  **checks;			/* planned, in the order of constr->check */
	int			nindexes;
	IndexExprs *indexes;		/* in the order of ri_IndexRelationDescs */
} RelExprs;

static HTAB *cache = NULL;

static void
invalidate(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS seq;
	RelExprs   *e;

	if (cache == NULL)
		return;
	if (OidIsValid(relid))
	{
		e = hash_search(cache, &relid, HASH_FIND, NULL);
		if (e != NULL)
			e->valid = false;
		return;
	}
	hash_seq_init(&seq, cache);
	while ((e = hash_seq_search(&seq)) != NULL)
		e->valid = false;
}

/* Does e describe the relation and indexes rri has open? */
static bool
matches(const RelExprs *e, const ResultRelInfo *rri)
{
	TupleConstr *constr = RelationGetDescr(rri->ri_RelationDesc)->constr;

	if (!e->valid || e->ncheck != (constr ? constr->num_check : 0) ||
		e->nindexes != rri->ri_NumIndices)
		return false;
	for (int i = 0; i < e->nindexes; i++)
		if (e->indexes[i].indexoid != RelationGetRelid(rri->ri_IndexRelationDescs[i]))
			return false;
	return true;
}

/* Parse and plan what rri's relation and its open indexes evaluate per row. */
static void
build(RelExprs *e, const ResultRelInfo *rri)
{
	TupleConstr *constr = RelationGetDescr(rri->ri_RelationDesc)->constr;
	MemoryContext old;

	if (e->cxt != NULL)
		MemoryContextDelete(e->cxt);
	e->cxt = AllocSetContextCreate(CacheMemoryContext, "taskmill insert expressions",
								   ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(e->cxt);
	e->ncheck = constr ? constr->num_check : 0;
	e->checks = palloc0(sizeof(Expr *) * Max(e->ncheck, 1));
	for (int i = 0; i < e->ncheck; i++)
		if (tm_check_enforced(&constr->check[i]))
			e->checks[i] = expression_planner((Expr *) stringToNode(constr->check[i].ccbin));
	e->nindexes = rri->ri_NumIndices;
	e->indexes = palloc0(sizeof(IndexExprs) * Max(e->nindexes, 1));
	for (int i = 0; i < e->nindexes; i++)
	{
		IndexInfo  *ii = rri->ri_IndexRelationInfo[i];

		e->indexes[i].indexoid = RelationGetRelid(rri->ri_IndexRelationDescs[i]);
		e->indexes[i].predicate =
			(List *) expression_planner((Expr *) copyObject(ii->ii_Predicate));
		e->indexes[i].expressions =
			(List *) expression_planner((Expr *) copyObject(ii->ii_Expressions));
	}
	MemoryContextSwitchTo(old);
	e->valid = true;
}

/*
 * Fill rri's CHECK states and its indexes' predicate and expression states (after
 * ExecOpenIndices, before the first row) from the planned trees kept for its
 * relation; ExecConstraints and ExecInsertIndexTuples then use them as their own.
 */
void
tm_prepare_insert_exprs(ResultRelInfo *rri, EState *estate)
{
	Oid			relid = RelationGetRelid(rri->ri_RelationDesc);
	RelExprs   *e;
	bool		found;
	MemoryContext old;

	if (cache == NULL)
	{
		HASHCTL		ctl = {.keysize = sizeof(Oid), .entrysize = sizeof(RelExprs)};

		cache = hash_create("taskmill insert expressions", 8, &ctl, HASH_ELEM | HASH_BLOBS);
		CacheRegisterRelcacheCallback(invalidate, (Datum) 0);
	}
	e = hash_search(cache, &relid, HASH_ENTER, &found);
	if (!found)
	{
		e->valid = false;
		e->cxt = NULL;
	}
	if (!matches(e, rri))
		build(e, rri);

	old = MemoryContextSwitchTo(estate->es_query_cxt);
	if (e->ncheck > 0)
	{
		/* a CHECK that is not enforced keeps a NULL state, as the executor gives it */
		tm_rri_check_exprs(rri) = palloc0(sizeof(ExprState *) * e->ncheck);
		for (int i = 0; i < e->ncheck; i++)
			if (e->checks[i] != NULL)
				tm_rri_check_exprs(rri)[i] = ExecInitExpr(e->checks[i], NULL);
	}
	for (int i = 0; i < e->nindexes; i++)
	{
		IndexInfo  *ii = rri->ri_IndexRelationInfo[i];
		ListCell   *lc;

		if (ii->ii_Predicate != NIL)
			ii->ii_PredicateState = ExecInitQual(e->indexes[i].predicate, NULL);
		if (ii->ii_Expressions != NIL)
		{
			ii->ii_ExpressionsState = NIL;
			foreach(lc, e->indexes[i].expressions)
				ii->ii_ExpressionsState = lappend(ii->ii_ExpressionsState,
												  ExecInitExpr((Expr *) lfirst(lc), NULL));
		}
	}
	MemoryContextSwitchTo(old);
}
