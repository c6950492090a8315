/*
 * schedules.h
 *		Cron schedules: what register_schedules and trigger_schedule (schedules.c) share
 *		with the run of due schedules (run_due.c).
 */
#ifndef TASKMILL_SCHEDULES_H
#define TASKMILL_SCHEDULES_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "utils/jsonb.h"
#include "utils/palloc.h"

/*
 * Enqueue a schedule's task: its payload and options (overrides read over them, may
 * be NULL), with key as idempotency key (NULL: generated). Returns the task's id.
 */
extern int64 tm_schedule_enqueue(const char *queue_name, const char *operation_id,
								 Jsonb *payload, Jsonb *options, Jsonb *overrides,
								 const char *key);

/* Has task_schedules its owner column (0.2)? */
extern bool tm_schedules_have_owner(void);

/*
 * The tick's idempotency key: "taskmill-schedule:<operation_id>@<tick in UTC, ISO
 * 8601>" (TM_SCHEDULE_KEY_PREFIX: only the scheduler writes such keys).
 */
extern char *tm_schedule_tick_key(const char *operation_id, TimestampTz tick);

/* run_due.c: what one step of a run did with a schedule. */
typedef enum RunDueResult
{
	RUN_DUE_SKIPPED,			/* no longer due, or another scheduler holds it */
	RUN_DUE_HELD,				/* its tick's key is held: left due, to try later */
	RUN_DUE_ENQUEUED,
	RUN_DUE_NOT_ENQUEUED		/* a duplicate, or a failure recorded on its row */
} RunDueResult;

/* run_due.c: the body of taskmill.run_due_schedules() (one subtransaction a schedule). */
extern int	taskmill_run_due(void);

/*
 * run_due.c, for the background worker, which runs each in a transaction of its own:
 * the ids of the due schedules (into cxt), one schedule's step, and the record of a
 * step that failed as a whole (its statement timeout).
 */
extern int64 *taskmill_due_schedule_ids(MemoryContext cxt, int *n);
extern RunDueResult taskmill_run_due_schedule(int64 id);
extern void taskmill_run_due_schedule_failed(int64 id, ErrorData *edata);

#endif							/* TASKMILL_SCHEDULES_H */
