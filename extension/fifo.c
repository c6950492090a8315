/*
 * fifo.c
 *		The FIFO-group condition shared by every dequeue statement: a grouped task
 *		may be delivered only when it is its group's head, no task of its group is in
 *		flight, and this transaction wins the group's advisory lock.
 */
#include "postgres.h"

#include "privileges.h"
#include "taskmill.h"

/*
 * SQL text of the condition, for a task aliased "t". The three tests run left to
 * right and stop at the first false one (one boolean expression), so the advisory
 * lock is tried only for a group head that is otherwise free: a dequeuer never holds
 * the lock of a group it does not deliver from. The lock is taskmill.try_group_lock's
 * (lock_keys.h TM_LOCK_KIND_GROUP: keyed, outside the user advisory key spaces, so no
 * other role can take it); it is released at the end of the dequeue's transaction, by
 * when the delivered head is committed as in flight and keeps the group closed by itself.
 */
#define FIFO_CONDITION(lock) \
		"(t.task_group_id IS NULL OR (" \
		"  t.id = (SELECT h.id FROM taskmill.tasks h" \
		"          WHERE h.queue_name = t.queue_name AND h.task_group_id = t.task_group_id" \
		"            AND h.dlq_at IS NULL" \
		"          ORDER BY h.priority DESC, h.id LIMIT 1)" \
		"  AND NOT EXISTS (SELECT 1 FROM taskmill.tasks f" \
		"          WHERE f.queue_name = t.queue_name AND f.task_group_id = t.task_group_id" \
		"            AND f.dlq_at IS NULL AND f.lease IS NOT NULL" \
		"            AND f.visible_at > pg_catalog.now() AND f.id <> t.id)" \
		"  AND " lock "))"

/*
 * The schema of taskmill 0.1 (until ALTER EXTENSION UPDATE) has no try_group_lock: its
 * dequeues take 0.1's user-space advisory key.
 */
const char *
tm_fifo_condition(void)
{
	if (!tm_have_group_lock_function())
		return FIFO_CONDITION("pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtext(t.queue_name),"
							  " pg_catalog.hashtext(t.task_group_id))");
	return FIFO_CONDITION("taskmill.try_group_lock(t.queue_name, t.task_group_id)");
}
