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

/*
 * Enqueue a schedule's task: its payload and options (overrides read over them, may
 * be NULL), with key as idempotency key (NULL: generated). Returns the task's id.
 */
extern int64 tm_schedule_enqueue(const char *queue_name, const char *operation_id,
								 Jsonb *payload, Jsonb *options, Jsonb *overrides,
								 const char *key);

/* Has task_schedules its owner column (0.2)? */
extern bool tm_schedules_have_owner(void);

/* The tick's idempotency key: "schedule:<operation_id>@<tick in UTC, ISO 8601>". */
extern char *tm_schedule_tick_key(const char *operation_id, TimestampTz tick);

/* run_due.c: the body of taskmill.run_due_schedules(), also run by the bgworker. */
extern int	taskmill_run_due(void);

#endif							/* TASKMILL_SCHEDULES_H */
