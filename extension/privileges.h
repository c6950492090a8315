/*
 * privileges.h
 *		The queue privilege model (docs/security.md): rights on queues granted to
 *		roles, checked by every function that touches a queue, and the switch to the
 *		extension owner under which those functions reach the tables.
 */
#ifndef TASKMILL_PRIVILEGES_H
#define TASKMILL_PRIVILEGES_H

#include "postgres.h"

#include "fmgr.h"
#include "storage/lock.h"

/* Rights on a queue (bit mask). */
#define TM_RIGHT_PRODUCE	0x1
#define TM_RIGHT_CONSUME	0x2
#define TM_RIGHT_MANAGE		0x4
#define TM_RIGHT_ANY		(TM_RIGHT_PRODUCE | TM_RIGHT_CONSUME | TM_RIGHT_MANAGE)

/* privileges.c */
extern Oid	tm_extension_owner(void);
extern bool tm_is_queue_admin(Oid role);
extern bool tm_has_queue_right(Oid role, const char *queue, int len, int rights);
extern void tm_require_queue_right(Oid role, const char *queue, int len, int right);
extern void tm_require_queue_admin(Oid role, const char *what);
extern const char *tm_right_name(int right);

/*
 * definer.c: the one way taskmill code becomes another role. A user scope runs what
 * follows as user (InvalidOid: as the current user) with sec_flags added to the security
 * context and, with pin_search_path, search_path pinned to pg_catalog, pg_temp; both
 * are undone by tm_user_scope_end, and by the (sub)transaction's abort on error. An owner
 * scope is the one SQL entry points use (what SECURITY DEFINER ... SET search_path does):
 * the extension owner's user id for a caller that is neither a superuser nor the owner.
 * The scheduler runs a tick as the schedule's owner in a user scope, the vacuum worker
 * runs VACUUM as the extension owner in one. tm_calling_user() is the role that called
 * the innermost owner scope (GetUserId() outside of one).
 */
typedef struct TmUserScope
{
	Oid			save_user;
	int			save_sec_context;
	int			nestlevel;		/* 0: search_path not pinned */
	bool		switched;
} TmUserScope;

typedef TmUserScope TmOwnerScope;

extern void tm_user_scope_begin(TmUserScope *scope, Oid user, int sec_flags, bool pin_search_path);
extern void tm_user_scope_end(TmUserScope *scope);
extern void tm_owner_begin(TmOwnerScope *scope);
extern void tm_owner_end(TmOwnerScope *scope);
extern Oid	tm_calling_user(void);

/*
 * The bodies of the entry points definer.c wraps (taskmill_NAME checks, then runs
 * tm_body_NAME as the extension owner).
 */
extern Datum tm_body_enqueue(PG_FUNCTION_ARGS);
extern Datum tm_body_enqueue_batch(PG_FUNCTION_ARGS);
extern Datum tm_body_enqueue_arrays(PG_FUNCTION_ARGS);
extern Datum tm_body_dequeue(PG_FUNCTION_ARGS);
extern Datum tm_body_ack_dequeue(PG_FUNCTION_ARGS);
extern Datum tm_body_ack(PG_FUNCTION_ARGS);
extern Datum tm_body_ack_many(PG_FUNCTION_ARGS);
extern Datum tm_body_nack(PG_FUNCTION_ARGS);
extern Datum tm_body_extend_visibility(PG_FUNCTION_ARGS);
extern Datum tm_body_release(PG_FUNCTION_ARGS);
extern Datum tm_body_register_schedules(PG_FUNCTION_ARGS);
extern Datum tm_body_trigger_schedule(PG_FUNCTION_ARGS);
extern Datum tm_body_run_due_schedules(PG_FUNCTION_ARGS);

/* secret.c: keyed names (lock_keys.h) */
extern void tm_wait_lock_tag(LOCKTAG *tag, const char *queue_name, int len);
extern void tm_queue_lock_tag(LOCKTAG *tag, const char *purpose, const char *queue_name,
							  int len, uint16 kind);
extern char *tm_queue_channel(const char *queue_name, int len);
extern bool tm_have_group_lock_function(void);
extern bool tm_try_park_lock(Datum queue_name, Datum task_group_id, LOCKTAG *tag);

#endif							/* TASKMILL_PRIVILEGES_H */
