/*
 * taskmill.h
 *		Declarations shared by the queue's C files: saved SPI plans, argument
 *		validation and the limits of the SQL surface.
 */
#ifndef TASKMILL_H
#define TASKMILL_H

#include "postgres.h"

#include "executor/spi.h"
#include "fmgr.h"

/* Limits of the SQL surface (DESIGN.md). */
#define TM_PRIORITY_MIN			(-100)
#define TM_PRIORITY_MAX			100
#define TM_DEFAULT_PRIORITY		0
#define TM_DEFAULT_MAX_ATTEMPTS 3
#define TM_BATCH_SIZE_MAX		10000
#define TM_NAME_MAX_BYTES		255		/* queue names travel as NOTIFY payloads */
#define TM_NOTIFY_CHANNEL		"taskmill"

/*
 * Tasks enqueued without an idempotency key get "taskmill:<id>"; callers may not use
 * the prefix. The unique key index leaves generated keys out (they cannot collide), so
 * its predicate, repeated in ON CONFLICT, is the one below (10_schema.sql).
 */
#define TM_GENERATED_KEY_PREFIX	"taskmill:"
#define TM_KEY_INDEX_PREDICATE \
	"dlq_at IS NULL AND NOT pg_catalog.starts_with(idempotency_key, 'taskmill:')"

/* plans.c: one saved plan per hot statement, prepared on first use in a backend. */
extern SPIPlanPtr tm_plan(SPIPlanPtr *slot, const char *sql, int nargs, const Oid *argtypes);
extern void tm_spi_connect(void);
extern int	tm_execute_nojit(SPIPlanPtr plan, Datum *values, const char *nulls,
							 bool read_only, long count);

/* validate.c: argument checks that raise DESIGN.md's SQLSTATEs. */
extern text *tm_arg_name(FunctionCallInfo fcinfo, int argno, const char *what);
extern void tm_check_name(const char *value, int len, const char *what);
extern void tm_check_priority(int32 priority);
extern void tm_check_max_attempts(int32 max_attempts);
extern void tm_check_idempotency_key(const char *key, int len);
extern void tm_check_interval_not_negative(Datum interval, const char *what);
extern void tm_check_expiry(Datum scheduled_at, Datum expires_at);
extern void tm_require_arg(FunctionCallInfo fcinfo, int argno, const char *what);
extern int64 tm_arg_task_id(FunctionCallInfo fcinfo, int argno);

/* The hot statements, for taskmill.hot_statements() (EXPLAIN them all). */
/* direct_insert.c: enqueue's INSERT without SPI (false: use the SQL statement) */
typedef struct TmNewTask
{
	int64		id;
	Datum		queue_name;		/* text */
	Datum		operation_id;	/* text */
	Datum		payload;		/* jsonb */
	bool		payload_null;
	Datum		meta;			/* jsonb */
	bool		meta_null;
	int32		priority;
	int32		max_attempts;
	Datum		task_group_id;	/* text */
	bool		task_group_id_null;
	Datum		idempotency_key;	/* text */
	bool		ephemeral;
	Datum		scheduled_at;	/* timestamptz, also the first visible_at */
	Datum		expires_at;		/* timestamptz */
	bool		expires_at_null;
} TmNewTask;

extern bool tm_insert_tasks_direct(const TmNewTask *tasks, int n);

extern const char *const tm_enqueue_sql;
extern const char *const tm_enqueue_plain_sql;
extern const char *const tm_enqueue_batch_sql;
extern const char *const tm_enqueue_batch_plain_sql;
extern const char *const tm_ack_sql;
extern const char *const tm_ack_many_sql;
extern const char *const tm_nack_sql;
extern const char *const tm_extend_sql;
extern const char *const tm_requeue_sql;
extern const char *const tm_release_sql;

/* fifo.c */
extern const char *tm_fifo_condition(void);

/* enqueue.c */
extern void tm_notify_queue(const char *queue_name);

/* notify.c: NOTIFY at commit only if an idle worker holds the queue's wait lock. */
extern void tm_notify_queue_if_waiting(const char *queue_name);

/* validate.c: P0002 for a task id that names no task. */
extern void tm_raise_task_not_found(int64 task_id);

#endif							/* TASKMILL_H */
