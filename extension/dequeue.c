/*
 * dequeue.c
 *		taskmill.dequeue: claim up to batch_size available tasks in one statement
 *		(FOR UPDATE SKIP LOCKED), dead-lettering expired and exhausted ones met on
 *		the way; taskmill.ack_dequeue: the previous batch's acks and nacks and the
 *		next claim in one call.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "privileges.h"
#include "taskmill.h"

PG_FUNCTION_INFO_V1(taskmill_dequeue_sql);

/*
 * The parts of a claim statement, as bits; a plan is saved for each combination used.
 * dequeue probes the indexes of the optional arms first (task_rels.c) and leaves out
 * those that cannot find anything: on most claims the statement is the ready scan and
 * the update alone.
 */
#define DQ_BY_GROUP		0x01	/* only the task group $4 */
#define DQ_LEGACY		0x02	/* a 0.1 table, see tm_tasks_have_waiting */
#define DQ_GROUPS		0x04	/* judge FIFO groups; without, grouped tasks are left out */
#define DQ_WOKEN		0x08	/* arm: waiting tasks whose time has come */
#define DQ_REDELIVER	0x10	/* arm: deliveries whose visibility timeout passed */
#define DQ_ALL			(DQ_GROUPS | DQ_WOKEN | DQ_REDELIVER)

static SPIPlanPtr dequeue_plans[32];

/*
 * Candidates come from up to three small index scans, each locking at most batch_size
 * rows:
 *   ready      tasks that may be delivered now (tasks_dequeue_idx, in delivery order;
 *              in-flight rows, the DLQ and waiting tasks are not in that index);
 *   woken      waiting tasks whose time has come (tasks_waiting_idx: enqueued for
 *              later, waiting for a retry, or parked behind their FIFO group's head;
 *              usually an empty range however many wait);
 *   redeliver  deliveries whose visibility timeout passed (tasks_leased_idx, by the
 *              time they became visible: usually an empty range).
 * With FIFO groups (DQ_GROUPS), the scans are subqueries of the one materialized CTE
 * that judges each candidate against its group (fifo.c; a CTE per scan was a second
 * tuplestore pass over every candidate). The best batch_size of those not blocked, by
 * (priority DESC, id), are updated: delivered with a fresh lease, or moved to the DLQ
 * when expired, or when a timed-out delivery had already used its last attempt.
 * Blocked candidates without a lease come back too (neither leased nor dead-lettered),
 * still locked: the caller parks them (fifo.c) and claims again. Rows locked but not
 * picked are released at commit. When the queue holds no grouped task (the probe of
 * tasks_group_idx), the statement judges nothing and its scans leave grouped tasks out:
 * one enqueued after the probe waits for the next claim, which judges it.
 * The updates find their rows by the ctids the locking scans returned, as one array
 * (a TID scan, not a primary-key descent per row; as an array rather than a join so
 * that no plan can turn it into a hash join over a sequential scan of the table, which
 * the planner chose for a join at ~10k rows). A row that another transaction updated after this
 * statement's snapshot was taken is locked in its new version, which the snapshot does
 * not see: the update skips it and the batch comes back one short, the task still
 * available; never a double delivery.
 */
/*
 * Whether a picked row goes to the DLQ instead of being delivered, from the row itself
 * (the version this statement locked): expired, or a timed-out delivery (lease set:
 * only redelivered rows have one) that used its last attempt.
 */
#define EXPIRED		"COALESCE(t.expires_at <= pg_catalog.now(), false)"
#define EXHAUSTED	"(t.lease IS NOT NULL AND t.attempts >= t.max_attempts)"
#define DEAD		"(" EXPIRED " OR " EXHAUSTED ")"
#define CANDIDATE	"t.ctid AS tid, t.id, t.priority, t.queue_name, t.task_group_id, t.lease IS NOT NULL AS leased"

/* The scans; %s: the group filter (and for ready first, tasks_dequeue_idx's predicate). */
static const char *ready_sql_fmt =
"SELECT " CANDIDATE " FROM taskmill.tasks t"
" WHERE t.queue_name = $1 AND t.dlq_at IS NULL AND t.lease IS NULL %s"
"   AND t.visible_at <= pg_catalog.now() %s"
" ORDER BY t.priority DESC, t.id LIMIT $2 FOR UPDATE SKIP LOCKED";
static const char *woken_sql_fmt =
"SELECT " CANDIDATE " FROM taskmill.tasks t"
" WHERE t.queue_name = $1 AND t.dlq_at IS NULL AND t.lease IS NULL AND t.waiting"
"   AND GREATEST(t.visible_at, t.parked_until) <= pg_catalog.now() %s"
" ORDER BY GREATEST(t.visible_at, t.parked_until) LIMIT $2 FOR UPDATE SKIP LOCKED";
static const char *redeliver_sql_fmt =
"SELECT " CANDIDATE " FROM taskmill.tasks t"
" WHERE t.queue_name = $1 AND t.dlq_at IS NULL AND t.lease IS NOT NULL"
"   AND t.visible_at <= pg_catalog.now() %s"
" ORDER BY t.visible_at LIMIT $2 FOR UPDATE SKIP LOCKED";

/* The update of the picked rows (CTE picked, column tid); %s: more columns to set. */
static const char *update_sql_fmt =
"UPDATE taskmill.tasks t SET"
"  attempts = CASE WHEN " DEAD " THEN t.attempts ELSE t.attempts + 1 END,"
"  visible_at = CASE WHEN " DEAD " THEN t.visible_at ELSE pg_catalog.now() + $3 END,"
"  lease = CASE WHEN " DEAD " THEN NULL ELSE pg_catalog.gen_random_uuid() END,"
"  dlq_at = CASE WHEN " DEAD " THEN pg_catalog.now() END,"
"  dlq_reason = CASE WHEN " EXPIRED " THEN 'expired'"
"                    WHEN " EXHAUSTED " THEN 'visibility timeout expired on the last attempt' END"
"  %s"
" WHERE t.ctid = ANY (ARRAY(SELECT p.tid FROM picked p))"
" RETURNING t.*";

/*
 * Blocked candidates, returned as they are. On a 0.1 table (the library is updated
 * before ALTER EXTENSION UPDATE) nothing is parked: blocked candidates are only skipped.
 */
static const char *blocked_sql =
"SELECT t.* FROM taskmill.tasks t"
" WHERE t.ctid = ANY (ARRAY(SELECT j.tid FROM judged j WHERE j.blocked AND NOT j.leased))";
static const char *blocked_legacy_sql = "SELECT t.* FROM taskmill.tasks t WHERE false";

static char *
dequeue_sql(int parts)
{
	bool		legacy = (parts & DQ_LEGACY) != 0;
	bool		woken = (parts & DQ_WOKEN) && !legacy;
	bool		redeliver = (parts & DQ_REDELIVER) != 0;
	const char *filter = (parts & DQ_BY_GROUP) ? "AND t.task_group_id = $4" :
		(parts & DQ_GROUPS) ? "" : "AND t.task_group_id IS NULL";
	char	   *ready = psprintf(ready_sql_fmt,
								 legacy ? "" : "AND NOT t.waiting",
								 filter);
	/* only a woken row can be waiting or parked (ready and leased rows are neither) */
	char	   *update = psprintf(update_sql_fmt,
								  woken ? ", waiting = false, parked_until = NULL" : "");
	StringInfoData arms;
	StringInfoData sql;

	initStringInfo(&arms);
	appendStringInfo(&arms, "SELECT * FROM (%s) ready", ready);
	if (woken)
	{
		appendStringInfoString(&arms, " UNION ALL SELECT * FROM (");
		appendStringInfo(&arms, woken_sql_fmt, filter);
		appendStringInfoString(&arms, ") woken");
	}
	if (redeliver)
	{
		appendStringInfoString(&arms, " UNION ALL SELECT * FROM (");
		appendStringInfo(&arms, redeliver_sql_fmt, filter);
		appendStringInfoString(&arms, ") redeliver");
	}

	initStringInfo(&sql);
	if (parts & DQ_GROUPS)
		appendStringInfo(&sql,
						 "WITH judged AS MATERIALIZED (SELECT c.*, %s AS blocked FROM (%s) c),"
						 " picked AS MATERIALIZED (SELECT j.tid FROM judged j WHERE NOT j.blocked AND %s"
						 "   ORDER BY j.priority DESC, j.id LIMIT $2),"
						 " upd AS (%s),"
						 " blocked AS (%s)"
						 " SELECT * FROM upd UNION ALL SELECT * FROM blocked ORDER BY priority DESC, id",
						 tm_fifo_blocked_sql, arms.data, tm_fifo_lock_sql(), update,
						 legacy ? blocked_legacy_sql : blocked_sql);
	else if (!woken && !redeliver)	/* the ready scan alone, already in order */
		appendStringInfo(&sql,
						 "WITH picked AS MATERIALIZED (%s), upd AS (%s)"
						 " SELECT * FROM upd ORDER BY priority DESC, id", ready, update);
	else
		appendStringInfo(&sql,
						 "WITH picked AS MATERIALIZED (SELECT c.tid FROM (%s) c"
						 "   ORDER BY c.priority DESC, c.id LIMIT $2),"
						 " upd AS (%s)"
						 " SELECT * FROM upd ORDER BY priority DESC, id", arms.data, update);
	pfree(ready);
	pfree(update);
	pfree(arms.data);
	return sql.data;
}

const Oid	tm_dequeue_argtypes[4] = {TEXTOID, INT4OID, INTERVALOID, TEXTOID};

/* The parts this claim needs: probes of the optional arms' indexes (task_rels.c). */
static int
dequeue_parts(Datum queue, bool by_group)
{
	int			parts = by_group ? DQ_BY_GROUP | DQ_GROUPS : 0;
	bool		legacy = !tm_tasks_have_waiting();
	uint32		probes = TM_PROBE_BIT(TM_PROBE_LEASED);
	uint32		found;

	if (legacy)
		parts |= DQ_LEGACY;		/* no tasks_waiting_idx */
	else
		probes |= TM_PROBE_BIT(TM_PROBE_WAITING);
	if (!by_group)
		probes |= TM_PROBE_BIT(TM_PROBE_GROUPS);
	found = tm_probe(queue, probes);
	if (found & TM_PROBE_BIT(TM_PROBE_WAITING))
		parts |= DQ_WOKEN;
	if (found & TM_PROBE_BIT(TM_PROBE_LEASED))
		parts |= DQ_REDELIVER;
	if (found & TM_PROBE_BIT(TM_PROBE_GROUPS))
		parts |= DQ_GROUPS;
	return parts;
}

static SPIPlanPtr
get_dequeue_plan(int parts)
{
	SPIPlanPtr *slot = &dequeue_plans[parts];
	char	   *sql;
	SPIPlanPtr	plan;

	if (*slot != NULL)
		return *slot;
	sql = dequeue_sql(parts);
	plan = tm_plan(slot, sql, (parts & DQ_BY_GROUP) ? 4 : 3, tm_dequeue_argtypes);
	pfree(sql);
	return plan;
}

/* A claim's arguments, as dequeue and ack_dequeue take them. */
typedef struct ClaimArgs
{
	Datum		queue;
	int32		batch_size;
	Datum		visibility_timeout;
	Datum		task_group_id;	/* (Datum) 0 unless by_group */
	bool		by_group;
} ClaimArgs;

/*
 * Read and check a claim's arguments: queue_name, batch_size and visibility_timeout
 * are arguments 0 .. 2 of both functions, task_group_id is argument group_argno.
 */
static void
claim_args(FunctionCallInfo fcinfo, int group_argno, ClaimArgs *claim)
{
	claim->queue = PointerGetDatum(tm_arg_name(fcinfo, 0, "queue name"));
	claim->batch_size = PG_ARGISNULL(1) ? 1 : PG_GETARG_INT32(1);
	if (claim->batch_size < 1 || claim->batch_size > TM_BATCH_SIZE_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("batch_size %d is out of range", claim->batch_size),
				 errdetail("batch_size must be between 1 and %d.", TM_BATCH_SIZE_MAX)));
	if (PG_ARGISNULL(2))
		claim->visibility_timeout = DirectFunctionCall3(interval_in, CStringGetDatum("30 seconds"),
														ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
	else
	{
		claim->visibility_timeout = PG_GETARG_DATUM(2);
		tm_check_interval_not_negative(claim->visibility_timeout, "visibility timeout");
	}
	claim->by_group = !PG_ARGISNULL(group_argno);
	claim->task_group_id = (Datum) 0;
	if (claim->by_group)
	{
		text	   *g = PG_GETARG_TEXT_PP(group_argno);

		tm_check_name(VARDATA_ANY(g), VARSIZE_ANY_EXHDR(g), "task group id");
		claim->task_group_id = PointerGetDatum(g);
	}
}

/* Column numbers of the dequeue statement's result. */
typedef struct DequeueCols
{
	int			id;
	int			lease;
	int			dlq;
	int			queue;
	int			group;
} DequeueCols;

static void
dequeue_columns(TupleDesc desc, TupleDesc expected, DequeueCols *c)
{
	c->id = SPI_fnumber(desc, "id");
	c->lease = SPI_fnumber(desc, "lease");
	c->dlq = SPI_fnumber(desc, "dlq_at");
	c->queue = SPI_fnumber(desc, "queue_name");
	c->group = SPI_fnumber(desc, "task_group_id");
	if (c->id <= 0 || c->lease <= 0 || c->dlq <= 0 || c->queue <= 0 || c->group <= 0 ||
		desc->natts != expected->natts)
		elog(ERROR, "taskmill: dequeue result does not match taskmill.tasks");
}

/* The park locks (lock_keys.h TM_LOCK_KIND_PARK) one dequeue call took, each once. */
typedef struct ParkLocks
{
	LOCKTAG    *tags;
	int			n;
	int			cap;
} ParkLocks;

/* Take the group's park lock unless another session holds it; false if it does. */
static bool
take_park_lock(ParkLocks *locks, Datum queue, Datum group)
{
	LOCKTAG		tag;

	if (!tm_try_park_lock(queue, group, &tag))
		return false;
	if (locks->n > 0 && memcmp(&locks->tags[locks->n - 1], &tag, sizeof(tag)) == 0)
	{
		LockRelease(&tag, ExclusiveLock, true); /* held already: one release at the end */
		return true;
	}
	if (locks->n == locks->cap)
	{
		locks->cap = locks->cap == 0 ? 8 : locks->cap * 2;
		locks->tags = locks->tags ? repalloc(locks->tags, sizeof(LOCKTAG) * locks->cap) :
			palloc(sizeof(LOCKTAG) * locks->cap);
	}
	locks->tags[locks->n++] = tag;
	return true;
}

static void
release_park_locks(ParkLocks *locks)
{
	for (int i = 0; i < locks->n; i++)
		LockRelease(&locks->tags[i], ExclusiveLock, true);
	locks->n = 0;
}

/*
 * Sort one round's rows (SPI_tuptable): the claimed ones (with a lease) go into the
 * tuplestore, the ids of blocked ones whose group's park lock this call holds (or wins
 * now) into blocked[] (to park; at most max), the groups of dead-lettered
 * grouped ones into *left (to wake). Returns how many rows left the scans for good:
 * claimed, dead-lettered or to be parked; *delivered counts the claimed, *others the
 * rows not claimed.
 */
static int
sort_round(ReturnSetInfo *rsinfo, const DequeueCols *c, int *delivered, int *others,
		   Datum *blocked, int *nblocked, int max, ParkLocks *locks, TmGroups *left)
{
	TupleDesc	desc = SPI_tuptable->tupdesc;
	int			moved = 0;

	*others = 0;
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		bool		no_group;
		bool		isnull;
		Datum		group;
		Datum		queue;

		/* null tests read the null bitmap only (a value read walks the tuple) */
		if (!heap_attisnull(tup, c->lease, desc))
		{
			tuplestore_puttuple(rsinfo->setResult, tup);
			(*delivered)++;
			moved++;
			continue;
		}
		(*others)++;			/* blocked, or dead-lettered */
		group = SPI_getbinval(tup, desc, c->group, &no_group);
		queue = SPI_getbinval(tup, desc, c->queue, &isnull);
		if (heap_attisnull(tup, c->dlq, desc))
		{
			/* blocked: always grouped */
			if (*nblocked < max && !no_group && take_park_lock(locks, queue, group))
			{
				blocked[(*nblocked)++] = SPI_getbinval(tup, desc, c->id, &isnull);
				moved++;
			}
			continue;
		}
		moved++;
		if (!no_group)
			tm_groups_add(left, queue, group);
	}
	return moved;
}

/*
 * Claim up to batch_size tasks into rsinfo's tuplestore (inside SPI). Usually one
 * round. Rows moved to the DLQ or found blocked take places of the batch, so while a
 * round dead-letters or parks some and the batch is not full, claim again for the rest,
 * at most CLAIM_ROUNDS rounds: a call does bounded work and returns, perhaps short of
 * batch_size with tasks still available (the caller claims again). Unbounded, concurrent
 * dequeuers of one large blocked group each parked it one batch a round, every round
 * scanning past the rows the others held, for minutes, while an ack of the group's head
 * waited on their parking (an uncommitted write to its next head): the group never moved.
 * A grouped task dead-lettered here leaves its group: the next head is woken.
 */
#define CLAIM_ROUNDS 4

static void
claim_rounds(ReturnSetInfo *rsinfo, const ClaimArgs *claim, ParkLocks *locks)
{
	Datum		values[4];
	DequeueCols cols = {0};
	int			delivered = 0;
	TmGroups	left;
	int			max_blocked = 3 * claim->batch_size;	/* <= 3 scans' rows */
	Datum	   *blocked = palloc(sizeof(Datum) * max_blocked);

	tm_groups_init(&left);
	values[0] = claim->queue;
	values[2] = claim->visibility_timeout;
	values[3] = claim->task_group_id;
	for (int round = 1;; round++)
	{
		int			others;
		int			moved;
		int			nblocked = 0;

		/* probed again each round: the first may have dead-lettered or parked rows */
		SPIPlanPtr	plan = get_dequeue_plan(dequeue_parts(claim->queue, claim->by_group));

		values[1] = Int32GetDatum(claim->batch_size - delivered);
		tm_spi_run_nojit(plan, values, NULL, false, 0, SPI_OK_SELECT, "dequeue");
		if (cols.id == 0)
			dequeue_columns(SPI_tuptable->tupdesc, rsinfo->setDesc, &cols);
		moved = sort_round(rsinfo, &cols, &delivered, &others, blocked, &nblocked, max_blocked, locks, &left);
		tm_groups_wake(&left);
		if (nblocked > 0)
			tm_park(blocked, nblocked);
		/* a round that moved nothing out of the scans would find the same rows again */
		if (others == 0 || moved == 0 || delivered >= claim->batch_size || round >= CLAIM_ROUNDS)
			break;
		CHECK_FOR_INTERRUPTS();
	}
}

static void
dequeue_into(ReturnSetInfo *rsinfo, const ClaimArgs *claim)
{
	ParkLocks  *locks = palloc0(sizeof(ParkLocks));

	PG_TRY();
	{
		claim_rounds(rsinfo, claim, locks);
	}
	PG_FINALLY();
	{
		release_park_locks(locks);
	}
	PG_END_TRY();
}

/*
 * taskmill.dequeue(queue_name, batch_size DEFAULT 1, visibility_timeout DEFAULT '30 s',
 *					task_group_id DEFAULT NULL) RETURNS SETOF taskmill.tasks
 */
Datum
tm_body_dequeue(PG_FUNCTION_ARGS)
{
	ClaimArgs	claim;

	claim_args(fcinfo, 3, &claim);
	InitMaterializedSRF(fcinfo, 0);
	tm_spi_connect();
	dequeue_into((ReturnSetInfo *) fcinfo->resultinfo, &claim);
	SPI_finish();
	return (Datum) 0;
}

/*
 * taskmill.ack_dequeue(queue_name, batch_size, visibility_timeout, task_ids, leases,
 *		results, failed_ids, failed_leases, errors, task_group_id) RETURNS SETOF taskmill.tasks
 *
 * A worker's round trip in one transaction: ack (task_ids[i], leases[i]) as ack_many
 * does, nack (failed_ids[i], failed_leases[i]) with errors[i] as nack does (default
 * backoff), then claim the next batch as dequeue does. Stale leases are skipped (the
 * task is someone else's now); the claim still happens. One commit per batch instead of
 * two.
 */
Datum
tm_body_ack_dequeue(PG_FUNCTION_ARGS)
{
	ClaimArgs	claim;
	int			nfailed = 0;
	Datum	   *f_ids = NULL;
	Datum	   *f_leases = NULL;
	Datum	   *f_errors = NULL;
	bool	   *f_errors_null = NULL;
	ArrayType  *ids;
	ArrayType  *leases;
	ArrayType  *results;
	int			acks;

	/* the claim's arguments (task_group_id included) are checked before the deliveries */
	claim_args(fcinfo, 9, &claim);
	acks = tm_deliveries_arg(fcinfo, 3, &ids, &leases, &results);

	if (!PG_ARGISNULL(6) || !PG_ARGISNULL(7))
	{
		int			nl;
		int			ne;

		if (PG_ARGISNULL(6) || PG_ARGISNULL(7))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("failed_ids and failed_leases must both be given or both be NULL")));
		deconstruct_array(PG_GETARG_ARRAYTYPE_P(6), INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
						  &f_ids, NULL, &nfailed);
		deconstruct_array(PG_GETARG_ARRAYTYPE_P(7), UUIDOID, 16, false, TYPALIGN_CHAR,
						  &f_leases, NULL, &nl);
		tm_check_same_length("failed_ids", nfailed, "failed_leases", nl);
		if (!PG_ARGISNULL(8))
		{
			deconstruct_array(PG_GETARG_ARRAYTYPE_P(8), TEXTOID, -1, false, TYPALIGN_INT,
							  &f_errors, &f_errors_null, &ne);
			tm_check_same_length("failed_ids", nfailed, "errors", ne);
			for (int i = 0; i < ne; i++)
				if (!f_errors_null[i])
					tm_check_error_size(f_errors[i]);
		}
	}

	InitMaterializedSRF(fcinfo, 0);
	tm_spi_connect();
	if (acks > 0)
		(void) tm_ack_deliveries(PointerGetDatum(ids), PointerGetDatum(leases),
								 PointerGetDatum(results), results == NULL);
	for (int i = 0; i < nfailed; i++)
		tm_nack_delivery(f_ids[i], f_leases[i],
						 f_errors ? f_errors[i] : (Datum) 0, f_errors == NULL || f_errors_null[i]);
	dequeue_into((ReturnSetInfo *) fcinfo->resultinfo, &claim);
	SPI_finish();
	return (Datum) 0;
}

/*
 * taskmill.dequeue_sql(by_group boolean DEFAULT false) RETURNS text
 *
 * The statement dequeue runs ($1 queue_name, $2 batch_size, $3 visibility_timeout and,
 * by_group, $4 task_group_id), so an operator or a test can PREPARE and EXPLAIN it.
 */
Datum
taskmill_dequeue_sql(PG_FUNCTION_ARGS)
{
	bool		by_group = PG_ARGISNULL(0) ? false : PG_GETARG_BOOL(0);

	PG_RETURN_TEXT_P(cstring_to_text(dequeue_sql(by_group ? DQ_ALL | DQ_BY_GROUP : DQ_ALL)));
}

PG_FUNCTION_INFO_V1(taskmill_hot_statements);

/*
 * taskmill.hot_statements() RETURNS TABLE (name text, param_types text, statement text)
 *
 * Every statement the queue functions run as a saved plan, with the types of its
 * parameters, so that each can be PREPAREd and EXPLAINed (the benchmarks and the
 * regression tests check that none scans a table sequentially).
 */
Datum
taskmill_hot_statements(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			enqueue_types[TM_INSERT_PARAMS];
	Oid			batch_types[TM_INSERT_PARAMS];
	const struct
	{
		const char *name;
		const Oid  *types;
		int			ntypes;
		const char *sql;
	}			stmts[] = {
		{"enqueue", enqueue_types, TM_INSERT_PARAMS, tm_enqueue_plain_sql[0]},
		{"enqueue_with_key", enqueue_types, TM_INSERT_PARAMS, tm_enqueue_sql[0]},
		{"enqueue_batch", batch_types, TM_INSERT_PARAMS, tm_enqueue_batch_plain_sql[0]},
		{"enqueue_batch_with_keys", batch_types, TM_INSERT_PARAMS, tm_enqueue_batch_sql[0]},
		{"dequeue", tm_dequeue_argtypes, 3, dequeue_sql(DQ_ALL)},
		{"dequeue_group", tm_dequeue_argtypes, 4, dequeue_sql(DQ_ALL | DQ_BY_GROUP)},
		{"dequeue_plain", tm_dequeue_argtypes, 3, dequeue_sql(0)},
		{"ack", tm_ack_argtypes, 3, tm_ack_sql},
		{"ack_many", tm_ack_many_argtypes, 3, tm_ack_many_sql},
		{"ack_delete", tm_ack_argtypes, 3, tm_ack_delete_sql},
		{"ack_many_delete", tm_ack_many_argtypes, 3, tm_ack_many_delete_sql},
		{"nack", tm_nack_argtypes, 4, tm_nack_sql},
		{"extend_visibility", tm_extend_argtypes, 3, tm_extend_sql},
		{"requeue_from_dlq", tm_requeue_argtypes, 1, tm_requeue_sql},
		{"release", tm_release_argtypes, 2, tm_release_sql},
		{"wake_group_heads", tm_wake_heads_argtypes, 2, tm_wake_heads_sql},
		{"park_group_tasks", tm_park_argtypes, 1, tm_park_sql()},
	};

	tm_enqueue_argtypes(enqueue_types, false);
	tm_enqueue_argtypes(batch_types, true);
	InitMaterializedSRF(fcinfo, 0);
	for (int i = 0; i < (int) lengthof(stmts); i++)
	{
		Datum		values[3];
		bool		nulls[3] = {false, false, false};
		StringInfoData types;

		/* the types the plans are prepared with, as PREPARE takes them */
		initStringInfo(&types);
		for (int t = 0; t < stmts[i].ntypes; t++)
			appendStringInfo(&types, "%s%s", t > 0 ? ", " : "", format_type_be(stmts[i].types[t]));
		values[0] = CStringGetTextDatum(stmts[i].name);
		values[1] = CStringGetTextDatum(types.data);
		values[2] = CStringGetTextDatum(stmts[i].sql);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
