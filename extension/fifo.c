/*
 * fifo.c
 *		FIFO groups: which delivery candidates a group blocks, and waking a group's next
 *		head when the task that blocked it leaves.
 *
 * A grouped task may be delivered only when it is its group's head, no other task of its
 * group is in flight, and this transaction wins the group's advisory lock. The head is the
 * first by priority DESC, id among the group's tasks outside the DLQ that are due
 * (visible_at <= now()) or were delivered before (attempts > 0: in flight, or waiting for
 * a retry, which keeps its place). A task enqueued for later takes no part in the order
 * until its time comes: then it joins it at its place by priority and id (ahead of any
 * later task still queued). So a task scheduled far ahead, at any priority, cannot stop
 * its group (TM_FIFO_COUNTS).
 *
 * A candidate that fails the first two tests is "parked" by dequeue: marked waiting,
 * which takes it out of tasks_dequeue_idx, so later dequeues do not test it again while
 * its group is blocked (tm_park: a statement of its own, run only when a dequeue met
 * blocked candidates and holds their group's park lock, which re-checks the block under
 * a fresh snapshot while the dequeue still holds the rows' locks, and parks the tasks
 * that follow too).
 * An empty dequeue of a blocked group then reads no entry of that group at all, however
 * many of its tasks wait.
 *
 * Whatever removes a group's head from the group (ack, ack_many, a nack or a dequeue
 * that dead-letters it, taskmill.delete_task) then wakes the group's next head
 * (tm_wake_group_heads): one primary-key update, in a statement of its own so that it
 * sees the removal. Park and wake cannot miss each other: if the remover commits before
 * the park's snapshot, the park sees the group free and leaves the task; if not, the
 * wake's update of the task waits for the parking transaction's row lock and then sees
 * the task parked. A parked candidate's parked_until is TM_PARK_RECHECK ahead (a
 * follower's TM_PARK_RECHECK_FOLLOWING), the time at which dequeue looks at it again
 * should a wake-up ever be missed (a task deleted by a plain DELETE, say).
 *
 * Time alone changes the head too: a task enqueued for later that comes due ahead of the
 * head by (priority, id) becomes the head. Nothing wakes it, nor needs to: it waits in
 * tasks_waiting_idx until then and is found there when due; the task it displaced is
 * parked when a dequeue finds it blocked. Statements judge by their transaction's now():
 * a wake run by a transaction that began before such a task came due may wake the task
 * behind it, which the next dequeue parks again (a later now() sees the new head), or may
 * miss the new head if a later dequeue had parked it: the recheck then finds it.
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"

#include "privileges.h"
#include "taskmill.h"

/*
 * Which of a group's tasks (alias h) take part in its order: due, or delivered before.
 * Every delivery candidate is due, so a candidate always counts; a task enqueued for
 * later counts from its scheduled time on, and a task once counted stays counted until
 * it leaves (nack and release keep attempts > 0 or visible_at past; requeue_from_dlq
 * makes it due).
 */
#define TM_FIFO_COUNTS "(h.visible_at <= pg_catalog.now() OR h.attempts > 0)"

/*
 * SQL of "candidate c is blocked by its group": not the head, or another task of the
 * group in flight. c has columns id, queue_name, task_group_id. Uses tasks_group_idx
 * (the tasks not yet due ahead of the head are read and passed over) and
 * tasks_group_leased_idx; only evaluated for grouped candidates.
 */
const char *const tm_fifo_blocked_sql =
"(c.task_group_id IS NOT NULL AND ("
"  c.id IS DISTINCT FROM (SELECT h.id FROM taskmill.tasks h"
"          WHERE h.queue_name = c.queue_name AND h.task_group_id = c.task_group_id"
"            AND h.dlq_at IS NULL AND " TM_FIFO_COUNTS
"          ORDER BY h.priority DESC, h.id LIMIT 1)"
"  OR EXISTS (SELECT 1 FROM taskmill.tasks f"
"          WHERE f.queue_name = c.queue_name AND f.task_group_id = c.task_group_id"
"            AND f.dlq_at IS NULL AND f.lease IS NOT NULL"
"            AND f.visible_at > pg_catalog.now() AND f.id <> c.id)))";

/*
 * SQL of "this transaction holds candidate j's group lock" (true for an ungrouped task).
 * The lock is taskmill.try_group_lock's (lock_keys.h TM_LOCK_KIND_GROUP: keyed, outside
 * the user advisory key spaces, so no other role can take it); it is released at the end
 * of the dequeue's transaction, by when the delivered head is committed as in flight and
 * keeps the group closed by itself. It serialises two dequeuers whose snapshots disagree
 * on the group's head. The schema of taskmill 0.1 (until ALTER EXTENSION UPDATE) has no
 * try_group_lock: its dequeues take 0.1's user-space advisory key.
 */
const char *
tm_fifo_lock_sql(void)
{
	if (!tm_have_group_lock_function())
		return "(j.task_group_id IS NULL OR"
			" pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtext(j.queue_name),"
			"                                      pg_catalog.hashtext(j.task_group_id)))";
	return "(j.task_group_id IS NULL OR taskmill.try_group_lock(j.queue_name, j.task_group_id))";
}

/*
 * Wake the current head of each (queue_names[i], task_group_ids[i]): back into
 * tasks_dequeue_idx, unless it waits for a retry (visible_at still ahead: it is woken
 * through tasks_waiting_idx when due). The head is judged as tm_fifo_blocked_sql judges
 * it: a task not yet due is not the head, and the first due one behind it is woken.
 */
const char *const tm_wake_heads_sql =
"UPDATE taskmill.tasks t SET waiting = false, parked_until = NULL"
" WHERE t.id = ANY (ARRAY("
"   SELECT (SELECT h.id FROM taskmill.tasks h"
"           WHERE h.queue_name = g.queue_name AND h.task_group_id = g.task_group_id"
"             AND h.dlq_at IS NULL AND " TM_FIFO_COUNTS
"           ORDER BY h.priority DESC, h.id LIMIT 1)"
"   FROM unnest($1::text[], $2::text[]) AS g(queue_name, task_group_id)))"
"   AND t.lease IS NULL AND t.dlq_at IS NULL"
"   AND (NOT t.waiting OR t.visible_at <= pg_catalog.now())";

/*
 * Park candidates a dequeue found blocked ($1 ids, rows this transaction has locked,
 * of groups whose park lock it holds: tm_try_park_lock): those still blocked under this
 * statement's snapshot leave tasks_dequeue_idx, and with the first of each group the
 * next TM_PARK_FOLLOWING tasks of the group that are not parked yet (or whose recheck
 * time came): they come after a live task of their group that this transaction holds,
 * so none of them can be its head. (That task is a candidate, due, so it counts in the
 * group's order, TM_FIFO_COUNTS, and stays counted while it exists: a task behind it is
 * never the head, whether or not the tasks between them count. A task not yet due is
 * not a candidate and never the "first" here.) A large group is thus parked in a few
 * calls rather than one batch per call, each call's work bounded, by one dequeue at a
 * time (the others write nothing: rows that several dequeues rewrite in turn make their
 * locking scans wait on each other, as PostgreSQL follows a row's updates even under
 * SKIP LOCKED); rows another transaction holds are skipped, never waited for.
 */
#define TM_PARK_FOLLOWING "256"

/*
 * The following tasks are looked at again later than the candidates: none of them can
 * head its group before the tasks ahead of it leave, and each that leaves wakes the
 * next; the recheck is only the net under a missed wake-up. A short one would re-park
 * a large group's every task each TM_PARK_RECHECK, in bursts, for as long as it waits.
 */
#define TM_PARK_RECHECK_FOLLOWING "5 minutes"

static const char *const park_sql_fmt =
"WITH still AS MATERIALIZED ("
"  SELECT c.ctid AS tid, c.id, c.queue_name, c.task_group_id, c.priority FROM taskmill.tasks c"
"  WHERE c.id = ANY ($1) AND c.lease IS NULL AND c.dlq_at IS NULL AND %s),"
" first AS (SELECT DISTINCT ON (s.queue_name, s.task_group_id) s.*"
"  FROM still s ORDER BY s.queue_name, s.task_group_id, s.priority DESC, s.id),"
" following AS MATERIALIZED ("
"  SELECT t.ctid AS tid FROM taskmill.tasks t"
"  WHERE t.ctid = ANY (ARRAY("
"      SELECT n.tid FROM first s, LATERAL ("
"        SELECT x.tid FROM ("
"          (SELECT f.ctid AS tid, f.priority, f.id FROM taskmill.tasks f"
"            WHERE f.queue_name = s.queue_name AND f.task_group_id = s.task_group_id"
"              AND f.dlq_at IS NULL AND f.priority = s.priority AND f.id > s.id"
"            ORDER BY f.id LIMIT " TM_PARK_FOLLOWING ")"
"          UNION ALL"
"          (SELECT f.ctid, f.priority, f.id FROM taskmill.tasks f"
"            WHERE f.queue_name = s.queue_name AND f.task_group_id = s.task_group_id"
"              AND f.dlq_at IS NULL AND f.priority < s.priority"
"            ORDER BY f.priority DESC, f.id LIMIT " TM_PARK_FOLLOWING ")) x"
"        ORDER BY x.priority DESC, x.id LIMIT " TM_PARK_FOLLOWING ") n"
"      LIMIT " TM_PARK_FOLLOWING "))"
"    AND t.lease IS NULL AND t.dlq_at IS NULL"
"    AND (NOT t.waiting OR t.parked_until <= pg_catalog.now())"
"  FOR UPDATE SKIP LOCKED)"
" UPDATE taskmill.tasks t SET waiting = true,"
"    parked_until = pg_catalog.now() + CASE WHEN t.id = ANY ($1)"
"      THEN interval '" TM_PARK_RECHECK "' ELSE interval '" TM_PARK_RECHECK_FOLLOWING "' END"
" WHERE t.ctid = ANY (ARRAY(SELECT s.tid FROM still s UNION ALL SELECT f.tid FROM following f))";

static SPIPlanPtr wake_plan = NULL;
static SPIPlanPtr park_plan = NULL;

/* the whole park statement ($1 int8[]), for tm_park and taskmill.hot_statements() */
char *
tm_park_sql(void)
{
	return psprintf(park_sql_fmt, tm_fifo_blocked_sql);
}

const Oid	tm_park_argtypes[1] = {INT8ARRAYOID};

void
tm_park(Datum *ids, int n)
{
	Datum		values[1];

	if (park_plan == NULL)
	{
		char	   *sql = tm_park_sql();

		(void) tm_plan(&park_plan, sql, 1, tm_park_argtypes);
		pfree(sql);
	}
	values[0] = PointerGetDatum(construct_array(ids, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	tm_spi_run(park_plan, values, NULL, false, 0, SPI_OK_UPDATE, "parking FIFO group tasks");
}

/*
 * Run tm_wake_heads_sql for two text[] Datums of one length (inside SPI; a new
 * statement, so it sees what the caller's earlier statements removed).
 */
const Oid	tm_wake_heads_argtypes[2] = {TEXTARRAYOID, TEXTARRAYOID};

void
tm_wake_group_heads(Datum queue_names, Datum task_group_ids)
{
	Datum		values[2] = {queue_names, task_group_ids};

	if (!tm_tasks_have_waiting())
		return;					/* a 0.1 table: nothing is parked */
	tm_spi_run(tm_plan(&wake_plan, tm_wake_heads_sql, 2, tm_wake_heads_argtypes), values, NULL, false, 0,
			   SPI_OK_UPDATE, "waking FIFO group heads");
}

/* Collects the groups whose head left, to wake their next heads in one statement. */
void
tm_groups_init(TmGroups *g)
{
	g->n = 0;
	g->cap = 0;
	g->queues = NULL;
	g->groups = NULL;
}

void
tm_groups_add(TmGroups *g, Datum queue_name, Datum task_group_id)
{
	if (g->n == g->cap)
	{
		g->cap = g->cap == 0 ? 8 : g->cap * 2;
		g->queues = g->queues ? repalloc(g->queues, sizeof(Datum) * g->cap) : palloc(sizeof(Datum) * g->cap);
		g->groups = g->groups ? repalloc(g->groups, sizeof(Datum) * g->cap) : palloc(sizeof(Datum) * g->cap);
	}
	/* copied: the SPI result they come from does not outlive the next statement's */
	g->queues[g->n] = datumCopy(queue_name, false, -1);
	g->groups[g->n] = datumCopy(task_group_id, false, -1);
	g->n++;
}

/* Wake the next heads of the collected groups (if any) and forget them. */
void
tm_groups_wake(TmGroups *g)
{
	if (g->n == 0)
		return;
	tm_wake_group_heads(PointerGetDatum(construct_array(g->queues, g->n, TEXTOID, -1, false, TYPALIGN_INT)),
						PointerGetDatum(construct_array(g->groups, g->n, TEXTOID, -1, false, TYPALIGN_INT)));
	g->n = 0;
}
