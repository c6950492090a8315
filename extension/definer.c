/*
 * definer.c
 *		The SQL entry points of the queue functions that reach the tables: check the
 *		caller's right on the queue, then run the body as the extension owner.
 *
 * The tables are granted to no one (docs/security.md), so a caller reaches rows only
 * through these functions, and only the rows of queues it holds a right on. A
 * SECURITY DEFINER function cannot do that check: inside it, current_user is already
 * the owner and the caller is gone. So each function is declared SECURITY INVOKER,
 * checks the right of current_user here, and then does what SECURITY DEFINER ... SET
 * search_path = pg_catalog, pg_temp does for the body: the extension owner's user id
 * (SECURITY_LOCAL_USERID_CHANGE, as fmgr_security_definer sets it) and a search_path
 * that no caller's schema is on, so that no operator or function of the caller's can
 * be resolved into the owner's statements. Both are undone on return, and by the
 * (sub)transaction abort on error.
 *
 * Superusers and the owner run the body as themselves (nothing to switch), but with the
 * pinned search_path too: a database owner may have set the database's search_path
 * (ALTER DATABASE ... SET search_path = evil, pg_catalog), and a superuser's call must
 * not run an operator planted there.
 *
 * Rights per function (the table of docs/security.md):
 *	produce	enqueue, enqueue_batch, enqueue_arrays
 *	consume	dequeue, wait_begin, listen (notify.c)
 *	manage	register_schedules, trigger_schedule, requeue_from_dlq (dlq.c) and the console
 *			functions (admin.c)
 *	the lease	ack, ack_many, nack, extend_visibility, release: the lease (a random
 *			UUID) is handed out by dequeue only, so holding it is the right
 *	owner	run_due_schedules
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "privileges.h"
#include "taskmill.h"

/*
 * The callers of the switched owner scopes open in this backend, innermost last, each
 * with the subtransaction it began in (tm_calling_user). An error unwinds the C stack
 * past tm_owner_end, so the abort callbacks drop what the aborted (sub)transaction
 * opened: a caller is never left behind for a later, unrelated call (a SECURITY DEFINER
 * function of the owner's, say) to be taken for.
 */
typedef struct OpenCaller
{
	Oid			caller;
	SubTransactionId subxid;
} OpenCaller;

static OpenCaller *open_callers = NULL;
static int	n_open_callers = 0;
static int	max_open_callers = 0;

static void
callers_xact_callback(XactEvent event, void *arg)
{
	n_open_callers = 0;			/* no scope outlives its transaction */
}

static void
callers_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						 SubTransactionId parentSubid, void *arg)
{
	if (event != SUBXACT_EVENT_ABORT_SUB)
		return;
	/* subtransaction ids only grow within a transaction: later ones are its children */
	while (n_open_callers > 0 && open_callers[n_open_callers - 1].subxid >= mySubid)
		n_open_callers--;
}

static void
push_caller(Oid caller)
{
	if (open_callers == NULL)
	{
		RegisterXactCallback(callers_xact_callback, NULL);
		RegisterSubXactCallback(callers_subxact_callback, NULL);
		max_open_callers = 8;
		open_callers = MemoryContextAlloc(TopMemoryContext, sizeof(OpenCaller) * max_open_callers);
	}
	else if (n_open_callers == max_open_callers)
	{
		max_open_callers *= 2;
		open_callers = repalloc(open_callers, sizeof(OpenCaller) * max_open_callers);
	}
	open_callers[n_open_callers].caller = caller;
	open_callers[n_open_callers].subxid = GetCurrentSubTransactionId();
	n_open_callers++;
}

void
tm_user_scope_begin(TmUserScope *scope, Oid user, int sec_flags, bool pin_search_path)
{
	scope->nestlevel = 0;
	if (pin_search_path)
	{
		scope->nestlevel = NewGUCNestLevel();
		(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	}
	scope->switched = OidIsValid(user);
	if (!scope->switched)
		return;
	GetUserIdAndSecContext(&scope->save_user, &scope->save_sec_context);
	SetUserIdAndSecContext(user, scope->save_sec_context | sec_flags);
}

void
tm_user_scope_end(TmUserScope *scope)
{
	if (scope->switched)
		SetUserIdAndSecContext(scope->save_user, scope->save_sec_context);
	if (scope->nestlevel > 0)
		AtEOXact_GUC(true, scope->nestlevel);
}

void
tm_owner_begin(TmOwnerScope *scope)
{
	Oid			user = GetUserId();
	bool		admin = tm_is_queue_admin(user);

	tm_user_scope_begin(scope, admin ? InvalidOid : tm_extension_owner(),
						SECURITY_LOCAL_USERID_CHANGE, true);
	if (scope->switched)
		push_caller(user);
}

void
tm_owner_end(TmOwnerScope *scope)
{
	if (scope->switched && n_open_callers > 0)
		n_open_callers--;
	tm_user_scope_end(scope);
}

/*
 * The role that called the innermost switched function, or current_user outside of
 * one: the caller counts only while the user id is the owner's under a local user id
 * change (as the switch left it).
 */
Oid
tm_calling_user(void)
{
	if (n_open_callers > 0 && InLocalUserIdChange() && GetUserId() == tm_extension_owner())
		return open_callers[n_open_callers - 1].caller;
	return GetUserId();
}

static Datum
run_as_owner(PGFunction body, FunctionCallInfo fcinfo)
{
	TmOwnerScope scope;
	Datum		result;

	tm_owner_begin(&scope);
	result = body(fcinfo);
	tm_owner_end(&scope);
	return result;
}

/*
 * The right on the queue named by argument argno; false when the name is NULL or not a
 * valid queue name (empty, too long). The body then runs as the caller, so it rejects
 * the name itself (with its own message) or fails on the tables' privileges: it never
 * reaches them without a check.
 */
static bool
check_queue_arg(FunctionCallInfo fcinfo, int argno, int right)
{
	text	   *q;
	int			len;

	if (PG_ARGISNULL(argno))
		return false;
	q = PG_GETARG_TEXT_PP(argno);
	len = VARSIZE_ANY_EXHDR(q);
	if (len == 0 || len > TM_NAME_MAX_BYTES)
		return false;
	tm_require_queue_right(GetUserId(), VARDATA_ANY(q), len, right);
	return true;
}

#define QUEUE_ENTRY(name, argno, right) \
PG_FUNCTION_INFO_V1(taskmill_##name); \
Datum \
taskmill_##name(PG_FUNCTION_ARGS) \
{ \
	if (!check_queue_arg(fcinfo, argno, right)) \
		return tm_body_##name(fcinfo); \
	return run_as_owner(tm_body_##name, fcinfo); \
}

#define LEASE_ENTRY(name) \
PG_FUNCTION_INFO_V1(taskmill_##name); \
Datum \
taskmill_##name(PG_FUNCTION_ARGS) \
{ \
	return run_as_owner(tm_body_##name, fcinfo); \
}

QUEUE_ENTRY(enqueue, 0, TM_RIGHT_PRODUCE)
QUEUE_ENTRY(enqueue_batch, 0, TM_RIGHT_PRODUCE)
QUEUE_ENTRY(enqueue_arrays, 0, TM_RIGHT_PRODUCE)
QUEUE_ENTRY(dequeue, 0, TM_RIGHT_CONSUME)
QUEUE_ENTRY(ack_dequeue, 0, TM_RIGHT_CONSUME)	/* its acks' right is their leases */
QUEUE_ENTRY(register_schedules, 0, TM_RIGHT_MANAGE)

LEASE_ENTRY(ack)
LEASE_ENTRY(ack_many)
LEASE_ENTRY(nack)
LEASE_ENTRY(extend_visibility)
LEASE_ENTRY(release)

PG_FUNCTION_INFO_V1(taskmill_run_due_schedules);

/* Runs every schedule of every queue: the owner's (and its scheduler's) business. */
Datum
taskmill_run_due_schedules(PG_FUNCTION_ARGS)
{
	tm_require_queue_admin(GetUserId(), "function run_due_schedules");
	return run_as_owner(tm_body_run_due_schedules, fcinfo);
}

/*
 * Without queue_name, the schedule is found by operation id among the queues the caller
 * manages (tm_body_trigger_schedule): one of another queue is answered as a missing one.
 */
PG_FUNCTION_INFO_V1(taskmill_trigger_schedule);

Datum
taskmill_trigger_schedule(PG_FUNCTION_ARGS)
{
	if (!PG_ARGISNULL(2) && !check_queue_arg(fcinfo, 2, TM_RIGHT_MANAGE))
		return tm_body_trigger_schedule(fcinfo);
	return run_as_owner(tm_body_trigger_schedule, fcinfo);
}
