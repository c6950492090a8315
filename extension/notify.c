/*
 * notify.c
 *		Wake-ups for idle workers: NOTIFY a queue's channel only when someone waits.
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
 * The wait lock is an advisory-type lock tag in the lock manager, in a key space of
 * taskmill's own (lock_keys.h TM_LOCK_KIND_WAIT) that the user advisory lock functions
 * cannot reach, keyed by a hash of the queue name under the database's install secret
 * (secret.c): a role without rights on the queue can neither hold it nor learn the
 * queue's name from pg_locks. wait_begin needs the consume right on the queue.
 *
 * The notification goes to the queue's own channel, "taskmill_" and a keyed hash of
 * its name (secret.c), with no payload: LISTEN taskmill_... needs the channel's name,
 * which taskmill.wait_begin and taskmill.listen hand out (they LISTEN on it) only to
 * roles with the consume right. Two queue names with the same hash would only cost
 * each other a spurious notification.
 *
 * The pending list lives in TopTransactionContext, follows subtransactions (an
 * aborted subtransaction's queues are dropped, a committed one's pass to its parent)
 * and is forgotten at the end of the transaction whatever its outcome. A prepared
 * transaction cannot NOTIFY: its queues are dropped, its tasks are found by polling.
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/async.h"
#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "lock_keys.h"
#include "pg_compat.h"
#include "privileges.h"
#include "taskmill.h"

PG_FUNCTION_INFO_V1(taskmill_wait_begin);
PG_FUNCTION_INFO_V1(taskmill_wait_end);
PG_FUNCTION_INFO_V1(taskmill_listen);

typedef struct PendingQueue
{
	char	   *queue_name;
	LOCKTAG		tag;			/* its wait lock */
	char	   *channel;		/* its NOTIFY channel */
	SubTransactionId subid;
} PendingQueue;

/* Queues enqueued to with notify => NULL in this transaction (TopTransactionContext). */
static List *pending = NIL;
static bool callbacks_registered = false;

/* Does some other session hold this wait lock? Never waits. */
static bool
waiter_present(LOCKTAG *tag)
{
	if (LockAcquire(tag, RowExclusiveLock, false, true) == LOCKACQUIRE_NOT_AVAIL)
		return true;
	LockRelease(tag, RowExclusiveLock, false);
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

					if (waiter_present(&p->tag))
						Async_Notify(p->channel, NULL);
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
 * notify => NULL: NOTIFY the queue's channel at commit if a waiter holds the queue's
 * wait lock then. The tag and the channel are made now, in the enqueue's call.
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
	tm_wait_lock_tag(&p->tag, queue_name, strlen(queue_name));
	p->channel = tm_queue_channel(queue_name, strlen(queue_name));
	p->subid = GetCurrentSubTransactionId();
	pending = lappend(pending, p);
	MemoryContextSwitchTo(old);
}

/* The consume right on the queue named by argument 0, which is returned. */
static text *
consumed_queue_arg(FunctionCallInfo fcinfo)
{
	text	   *queue = tm_arg_name(fcinfo, 0, "queue name");

	tm_require_queue_right(GetUserId(), VARDATA_ANY(queue), VARSIZE_ANY_EXHDR(queue),
						   TM_RIGHT_CONSUME);
	return queue;
}

/*
 * taskmill.wait_begin(queue_name text) RETURNS boolean
 *
 * Declare this session an idle waiter of the queue until wait_end or disconnect:
 * enqueues with notify => NULL NOTIFY the queue's channel at their commit, and the
 * session LISTENs on it from the commit of this call (a worker's LISTEN taskmill of
 * 0.1 hears nothing now; the wake-ups come on the queue's channel). Returns false when
 * the session was waiting already (the call changes nothing). Needs the consume right.
 */
Datum
taskmill_wait_begin(PG_FUNCTION_ARGS)
{
	text	   *queue = consumed_queue_arg(fcinfo);
	LOCKTAG		tag;

	tm_wait_lock_tag(&tag, VARDATA_ANY(queue), VARSIZE_ANY_EXHDR(queue));
	Async_Listen(tm_queue_channel(VARDATA_ANY(queue), VARSIZE_ANY_EXHDR(queue)));
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
 * No right is needed: it only gives up what this session holds. (It stays LISTENing.)
 */
Datum
taskmill_wait_end(PG_FUNCTION_ARGS)
{
	text	   *queue = tm_arg_name(fcinfo, 0, "queue name");
	LOCKTAG		tag;

	tm_wait_lock_tag(&tag, VARDATA_ANY(queue), VARSIZE_ANY_EXHDR(queue));
	if (!tm_lock_held_by_me(&tag, ShareLock))
		PG_RETURN_BOOL(false);
	PG_RETURN_BOOL(LockRelease(&tag, ShareLock, true));
}

/*
 * taskmill.listen(queue_name text) RETURNS text
 *
 * LISTEN on the queue's channel (from the commit of this call) and return its name,
 * to tell its notifications from others'. For sessions that wait for enqueues with
 * notify => true without declaring themselves waiters. Needs the consume right.
 */
Datum
taskmill_listen(PG_FUNCTION_ARGS)
{
	text	   *queue = consumed_queue_arg(fcinfo);
	char	   *channel = tm_queue_channel(VARDATA_ANY(queue), VARSIZE_ANY_EXHDR(queue));

	Async_Listen(channel);
	PG_RETURN_TEXT_P(cstring_to_text(channel));
}
