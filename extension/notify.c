/*
 * notify.c
 *		Wake-ups for idle workers: NOTIFY taskmill only when someone waits.
 *
 * PostgreSQL serialises the commits of all notifying transactions (PreCommit_Notify
 * takes one global lock, held until the commit record is flushed), so a NOTIFY on
 * every enqueue costs concurrent producers their group commit. Most of the time no
 * worker is idle and the notification wakes nobody. So:
 *
 *	- An idle worker declares itself with taskmill.wait_begin(queue): a session-level
 *	  SHARE lock on the queue's wait lock, held until taskmill.wait_end(queue) or the
 *	  end of the session.
 *	- enqueue (notify => NULL, the default) remembers the queue in a per-transaction
 *	  list; at pre-commit, before PreCommit_Notify, each queue of the list is probed:
 *	  a conditional ROW EXCLUSIVE request on the wait lock, released at once. It
 *	  conflicts with a waiter's SHARE lock only (ROW EXCLUSIVE is self-compatible, so
 *	  producers never block or fail each other's probe), never waits, and costs a
 *	  lock-table lookup. Only a queue with a waiter gets its NOTIFY.
 *
 * The wait lock is an advisory-type lock tag in the lock manager: (database,
 * high and low 32 bits of a 64-bit hash of the queue name, field4 =
 * TM_WAIT_LOCK_KIND). User advisory locks use field4 1 (bigint key) and 2 (two int4
 * keys), so they can never meet ours. pg_locks shows a waiter as locktype 'advisory',
 * classid/objid = the hash, objsubid = 21581, mode ShareLock. Two queue names with
 * the same hash only cost each other a spurious notification.
 *
 * The pending list lives in TopTransactionContext, follows subtransactions (an
 * aborted subtransaction's queues are dropped, a committed one's pass to its parent)
 * and is forgotten at the end of the transaction whatever its outcome. A prepared
 * transaction cannot NOTIFY: its queues are dropped, its tasks are found by polling.
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/async.h"
#include "common/hashfn.h"
#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "taskmill.h"

PG_FUNCTION_INFO_V1(taskmill_wait_begin);
PG_FUNCTION_INFO_V1(taskmill_wait_end);

/* field4 of the wait lock's tag: "TM" (user advisory locks use 1 and 2). */
#define TM_WAIT_LOCK_KIND 0x544D

typedef struct PendingQueue
{
	char	   *queue_name;
	SubTransactionId subid;
} PendingQueue;

/* Queues enqueued to with notify => NULL in this transaction (TopTransactionContext). */
static List *pending = NIL;
static bool callbacks_registered = false;

static void
wait_lock_tag(LOCKTAG *tag, const char *queue_name, int len)
{
	uint64		h = hash_bytes_extended((const unsigned char *) queue_name, len, 0);

	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, (uint32) (h >> 32), (uint32) h,
						 TM_WAIT_LOCK_KIND);
}

/* Does some other session hold the queue's wait lock? Never waits. */
static bool
waiter_present(const char *queue_name)
{
	LOCKTAG		tag;

	wait_lock_tag(&tag, queue_name, strlen(queue_name));
	if (LockAcquire(&tag, RowExclusiveLock, false, true) == LOCKACQUIRE_NOT_AVAIL)
		return true;
	LockRelease(&tag, RowExclusiveLock, false);
	return false;
}

static void
xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
			{
				ListCell   *lc;

				/* runs before PreCommit_Notify, which sends what we queue here */
				foreach(lc, pending)
				{
					PendingQueue *p = (PendingQueue *) lfirst(lc);

					if (waiter_present(p->queue_name))
						tm_notify_queue(p->queue_name);
				}
				pending = NIL;
				break;
			}
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PRE_PREPARE:
		case XACT_EVENT_PREPARE:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PARALLEL_PRE_COMMIT:
			/* the memory goes with TopTransactionContext */
			pending = NIL;
			break;
	}
}

static void
subxact_callback(SubXactEvent event, SubTransactionId mySubid,
				 SubTransactionId parentSubid, void *arg)
{
	ListCell   *lc;

	if (pending == NIL)
		return;
	if (event == SUBXACT_EVENT_COMMIT_SUB)
	{
		foreach(lc, pending)
		{
			PendingQueue *p = (PendingQueue *) lfirst(lc);

			if (p->subid == mySubid)
				p->subid = parentSubid;
		}
	}
	else if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		foreach(lc, pending)
		{
			PendingQueue *p = (PendingQueue *) lfirst(lc);

			if (p->subid == mySubid)
				pending = foreach_delete_current(pending, lc);
		}
	}
}

/*
 * notify => NULL: NOTIFY taskmill with the queue name at commit if a waiter holds the
 * queue's wait lock then.
 */
void
tm_notify_queue_if_waiting(const char *queue_name)
{
	ListCell   *lc;
	MemoryContext old;
	PendingQueue *p;

	if (!callbacks_registered)
	{
		RegisterXactCallback(xact_callback, NULL);
		RegisterSubXactCallback(subxact_callback, NULL);
		callbacks_registered = true;
	}
	foreach(lc, pending)
	{
		p = (PendingQueue *) lfirst(lc);
		if (strcmp(p->queue_name, queue_name) == 0)
			return;				/* already pending at this level or an enclosing one */
	}
	old = MemoryContextSwitchTo(TopTransactionContext);
	p = palloc(sizeof(PendingQueue));
	p->queue_name = pstrdup(queue_name);
	p->subid = GetCurrentSubTransactionId();
	pending = lappend(pending, p);
	MemoryContextSwitchTo(old);
}

/*
 * taskmill.wait_begin(queue_name text) RETURNS boolean
 *
 * Declare this session an idle waiter of the queue until wait_end or disconnect:
 * enqueues with notify => NULL NOTIFY taskmill at their commit. Returns false when
 * the session was waiting already (the call changes nothing).
 */
Datum
taskmill_wait_begin(PG_FUNCTION_ARGS)
{
	text	   *queue = tm_arg_name(fcinfo, 0, "queue name");
	LOCKTAG		tag;

	wait_lock_tag(&tag, VARDATA_ANY(queue), VARSIZE_ANY_EXHDR(queue));
	if (LockAcquire(&tag, ShareLock, true, false) == LOCKACQUIRE_ALREADY_HELD)
	{
		/* once per session: drop the count the call just added */
		LockRelease(&tag, ShareLock, true);
		PG_RETURN_BOOL(false);
	}
	PG_RETURN_BOOL(true);
}

/*
 * taskmill.wait_end(queue_name text) RETURNS boolean
 *
 * This session no longer waits on the queue. Returns false when it was not waiting.
 */
Datum
taskmill_wait_end(PG_FUNCTION_ARGS)
{
	text	   *queue = tm_arg_name(fcinfo, 0, "queue name");
	LOCKTAG		tag;

	wait_lock_tag(&tag, VARDATA_ANY(queue), VARSIZE_ANY_EXHDR(queue));
	if (!LockHeldByMe(&tag, ShareLock))
		PG_RETURN_BOOL(false);
	PG_RETURN_BOOL(LockRelease(&tag, ShareLock, true));
}
