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
#include "nodes/bitmapset.h"
#include "catalog/pg_attribute.h"
#include "nodes/execnodes.h"
#include "utils/rel.h"
#include "utils/array.h"
#include "utils/inval.h"
#include "utils/jsonb.h"

/*
 * Limits of the SQL surface (docs/sql-api.md). The sizes callers may send are GUCs
 * (taskmill.c, docs/sql-api.md "Limits"); these are fixed.
 */
#define TM_PRIORITY_MIN			(-100)
#define TM_PRIORITY_MAX			100
#define TM_BATCH_SIZE_MAX		10000
#define TM_NAME_MAX_BYTES		255		/* queue names, operation and group ids */

/*
 * A task's scheduled_at may be at most this far after the transaction's start (and must
 * be finite): a start time no one will live to see is a mistake, or a task meant to sit
 * in a queue for good (docs/sql-api.md "Limits").
 */
#define TM_SCHEDULED_AHEAD_MAX_YEARS 10

/* At most this many bytes of a caller's value are quoted in a message (tm_quote). */
#define TM_QUOTE_MAX_BYTES		64

/*
 * Tasks enqueued without an idempotency key get "taskmill:<id>"; callers may not use
 * the prefix. The unique key index leaves generated keys out (they cannot collide), so
 * its predicate, repeated in ON CONFLICT, is the one below (10_schema.sql).
 */
#define TM_GENERATED_KEY_PREFIX	"taskmill:"
#define TM_KEY_INDEX_PREDICATE \
	"dlq_at IS NULL AND NOT pg_catalog.starts_with(idempotency_key, 'taskmill:')"

/*
 * The keys of schedule ticks: "taskmill-schedule:<operation_id>@<tick>" (schedules.c).
 * Only the scheduler writes them, so no caller can hold or take a coming tick's key
 * (which would stall or cancel the tick); callers' keys with this prefix are refused.
 * Unlike generated keys they are in the unique key index: they are the fence that keeps
 * a tick to one task.
 */
#define TM_SCHEDULE_KEY_PREFIX	"taskmill-schedule:"

/* taskmill.c: the size limits (GUCs, in bytes or tasks). */
extern int	tm_max_enqueue_batch;
extern int	tm_max_payload_bytes;
extern int	tm_max_meta_bytes;
extern int	tm_max_result_bytes;
extern int	tm_max_error_bytes;
extern int	tm_max_key_bytes;
extern int	tm_max_schedules_per_queue;

/* plans.c: one saved plan per hot statement, prepared on first use in a backend. */
extern SPIPlanPtr tm_plan(SPIPlanPtr *slot, const char *sql, int nargs, const Oid *argtypes);
extern void tm_spi_connect(void);
extern void tm_spi_run(SPIPlanPtr plan, Datum *values, const char *nulls, bool read_only,
					   long count, int expected_rc, const char *what);
extern void tm_spi_run_nojit(SPIPlanPtr plan, Datum *values, const char *nulls, bool read_only,
							 long count, int expected_rc, const char *what);

/* validate.c: argument checks that raise docs/sql-api.md's SQLSTATEs. */
extern char *tm_quote(const char *value, int len);
extern text *tm_arg_name(FunctionCallInfo fcinfo, int argno, const char *what);
extern void tm_check_name(const char *value, int len, const char *what);
extern void tm_check_priority(int32 priority);
extern void tm_check_max_attempts(int32 max_attempts);
extern void tm_check_idempotency_key(const char *key, int len);
extern void tm_check_size(const char *what, Size bytes, int limit, const char *guc);
extern void tm_check_count(const char *what, int64 count, int limit, const char *guc);
extern void tm_check_same_length(const char *first, int n, const char *other, int m);
extern void tm_check_result_size(Datum result);
extern void tm_check_error_size(Datum error);
struct ArrayType;
extern void tm_check_result_array(struct ArrayType *results);
extern void tm_check_interval_not_negative(Datum interval, const char *what);
extern void tm_check_expiry(Datum scheduled_at, Datum expires_at);
extern void tm_check_scheduled_at(Datum scheduled_at);
extern void tm_require_arg(FunctionCallInfo fcinfo, int argno, const char *what);
extern int64 tm_arg_task_id(FunctionCallInfo fcinfo, int argno);
extern const char *tm_json_type_name(int jbv_type, bool is_array);

/*
 * task_fields.c: the fields of a task a caller may give, one table for every way of
 * giving them (enqueue's arguments, enqueue_arrays' arrays, enqueue_batch's JSON
 * objects, a schedule's options). The fields with a column are the columns every
 * enqueue writes, in this order (after id and queue_name; visible_at = scheduled_at).
 */
typedef enum TmField
{
	TF_OPERATION_ID,
	TF_PAYLOAD,
	TF_META,
	TF_PRIORITY,
	TF_MAX_ATTEMPTS,
	TF_TASK_GROUP_ID,
	TF_IDEMPOTENCY_KEY,
	TF_EPHEMERAL,
	TF_SCHEDULED_AT,			/* also the first visible_at */
	TF_EXPIRES_AT,
	TF_EXPIRES_IN,				/* schedule option: expires_at = enqueue time + this */
	TF_COUNT
} TmField;

#define TF_BIT(f)				(1u << (f))
/* the fields with a column of taskmill.tasks */
#define TF_COLUMNS				(TF_BIT(TF_EXPIRES_IN) - 1)
/* the fields of a schedule's options */
#define TF_SCHEDULE_OPTIONS \
	(TF_BIT(TF_PRIORITY) | TF_BIT(TF_MAX_ATTEMPTS) | TF_BIT(TF_TASK_GROUP_ID) | \
	 TF_BIT(TF_EXPIRES_IN) | TF_BIT(TF_EPHEMERAL) | TF_BIT(TF_META))

typedef struct TmFieldInfo
{
	const char *name;			/* JSON key and column name */
	Oid			type;			/* SQL type of the value */
	const char *type_name;		/* its qualified name, for SQL text built without the catalog */
	const char *array_arg;		/* enqueue_arrays' argument name */
} TmFieldInfo;

extern const TmFieldInfo tm_fields[TF_COUNT];

/* One task to insert: a value per field (isnull: not given, the server's default). */
typedef struct TmNewTask
{
	int64		id;
	Datum		values[TF_COUNT];
	bool		isnull[TF_COUNT];
} TmNewTask;

extern void tm_task_init(TmNewTask *t);
extern void tm_task_set(TmNewTask *t, TmField f, Datum value, bool isnull);
extern void tm_task_set_json(TmNewTask *t, TmField f, JsonbValue *v);
extern void tm_task_read_json(TmNewTask *t, JsonbContainer *object, uint32 allowed,
							  const char *what);
extern void tm_task_check(TmNewTask *t);
extern void tm_task_fill_defaults(TmNewTask *tasks, int n);

/* Where a column of taskmill.tasks gets its value in a new task, and its default. */
typedef enum TmColumnSource
{
	TCS_DEFAULT,				/* no field: the column's default */
	TCS_ID,
	TCS_QUEUE,
	TCS_FIELD,					/* the value of field (visible_at: scheduled_at's) */
	TCS_WAITING,				/* waiting: scheduled_at after now() */
	TCS_DROPPED
} TmColumnSource;

typedef enum TmDefaultKind
{
	TDK_NONE,					/* no default: NULL */
	TDK_CONST,
	TDK_NOW,					/* now(): the transaction's start */
	TDK_EXPR					/* anything else, evaluated per row */
} TmDefaultKind;

typedef struct TmColumn
{
	TmColumnSource source;
	TmField		field;
	TmDefaultKind kind;
	Datum		value;			/* TDK_CONST */
	bool		isnull;
	Expr	   *expr;			/* TDK_EXPR */
} TmColumn;

typedef struct TmTaskTable
{
	Oid			relid;
	int			natts;
	TmColumn   *cols;			/* one per attribute */
	int			field_col[TF_COUNT];	/* attribute index of each field's column */
	Bitmapset  *inserted_cols;	/* the columns an enqueue names, as an INSERT's */
	bool		has_generated;
	bool		has_waiting;	/* the waiting column (0.2; see tm_tasks_have_waiting) */
} TmTaskTable;

struct ExprState;
struct ExprContext;
extern const TmTaskTable *tm_task_table(void);
extern bool tm_tasks_have_waiting(void);
extern Datum tm_column_default_eval(const TmColumn *col, struct ExprState *state,
									struct ExprContext *econtext, bool *isnull);

/*
 * The default of a column for one row. A constant or none (NULL), most columns of a new
 * task, is read inline: this runs for every defaulted column of every row enqueued.
 */
static inline Datum
tm_column_default(const TmColumn *col, struct ExprState *state,
				  struct ExprContext *econtext, bool *isnull)
{
	if (col->kind == TDK_CONST || col->kind == TDK_NONE)
	{
		*isnull = col->isnull;
		return col->value;
	}
	return tm_column_default_eval(col, state, econtext, isnull);
}

/*
 * rel_insert.c: rows into a table without the SQL layer, as logical replication's apply
 * worker inserts them (NOT NULLs, CHECKs and index entries as in an INSERT statement),
 * many at a time with table_multi_insert. For plain tables only: tm_rel_insert_open
 * says false when an INSERT statement must do it (triggers, row-level security,
 * generated columns, or the permission check says no).
 */
typedef struct TmRelInsert
{
	Relation	rel;
	EState	   *estate;
	ResultRelInfo *rri;
	RangeTblEntry *rte;
	List	   *perminfos;
	TupleTableSlot **slots;
	int			nslots;			/* rows per flush */
	const TmColumn *cols;		/* the caller's column defaults, one per attribute */
	struct ExprState **defaults;	/* TDK_EXPR columns' states */
	struct ExprContext *econtext;	/* the per-row context they are evaluated in */
} TmRelInsert;

extern bool tm_rel_insert_open(TmRelInsert *ins, Oid relid, Bitmapset *inserted_cols);
extern void tm_rel_insert_close(TmRelInsert *ins);
extern void tm_rel_insert_prepare(TmRelInsert *ins, const TmColumn *cols, int natts, int nrows);
extern TupleTableSlot *tm_rel_insert_slot(TmRelInsert *ins, int r);
extern void tm_rel_insert_flush(TmRelInsert *ins, int m);
extern void tm_read_column_default(Relation rel, Form_pg_attribute att, TmColumn *col);

/* Column attno's (0-based) default for one row, as an INSERT that leaves it out gets. */
static inline Datum
tm_rel_insert_default(TmRelInsert *ins, int attno, bool *isnull)
{
	return tm_column_default(&ins->cols[attno], ins->defaults[attno], ins->econtext, isnull);
}
extern Relation tm_open_cached_table(const char *relname, MemoryContext *cxt,
									 RelcacheCallbackFunction callback);

/*
 * The columns of taskmill.task_results an ack writes, in order: these, copied from the
 * task's row, then completed_at (now()) and result (the caller's). The one list of
 * them: the ack statements (ack.c) and the direct insert (result_table.c,
 * ack_results.c) are built from it.
 */
#define TM_RESULT_COPIED(X) \
	X(id) X(queue_name) X(operation_id) X(payload) X(meta) X(priority) X(attempts) \
	X(max_attempts) X(task_group_id) X(idempotency_key) X(created_at) X(scheduled_at)
#define TM_COLUMN_NAME_(c)		#c ", "
#define TM_RESULT_COPIED_LIST	TM_RESULT_COPIED(TM_COLUMN_NAME_)	/* "id, ..., scheduled_at, " */
#define TM_RESULT_COPIED_ENUM_(c)	TRC_##c,
typedef enum TmResultCopied
{
	TM_RESULT_COPIED(TM_RESULT_COPIED_ENUM_)
	TRC_COUNT
} TmResultCopied;

/* result_table.c: taskmill.task_results as an ack fills it, read from the catalog */
typedef enum TmResultSource
{
	TRS_DEFAULT,				/* nothing fills it: the column's default */
	TRS_COPIED,					/* the task's column of that name */
	TRS_COMPLETED_AT,			/* now() */
	TRS_RESULT,					/* the caller's result */
	TRS_DROPPED
} TmResultSource;

typedef struct TmResultTable
{
	Oid			relid;
	int			natts;
	TmColumn   *cols;			/* one per attribute: its default */
	TmResultSource *source;		/* one per attribute */
	int		   *copied;			/* TRS_COPIED: the index in TM_RESULT_COPIED */
	Bitmapset  *inserted_cols;	/* the columns the ack's INSERT names */
	bool		known;			/* every column an ack fills is there, of the task's type */
} TmResultTable;

extern const TmResultTable *tm_result_table(void);

/* ack_results.c: the direct path of an ack (inside SPI) */
extern bool tm_results_open(TmRelInsert *ins);
extern int32 tm_results_write_acked(TmRelInsert *ins, SPITupleTable *acked, int n);

/*
 * enqueue.c: the one way in for new tasks, for the SQL functions and the schedules.
 * Checked tasks in; ids drawn, keys generated, inserted (all or nothing; 23505 naming
 * the first key a queued task has); returns the ids (palloc'd, n of them). No NOTIFY.
 */
extern int64 *tm_enqueue_tasks(text *queue, TmNewTask *tasks, int n);

/* insert_exprs.c: per-row expressions of a direct insert, planned once per backend */
struct ResultRelInfo;
struct EState;
extern void tm_prepare_insert_exprs(struct ResultRelInfo *rri, struct EState *estate);

/* direct_insert.c: the INSERT without SPI (false: use the SQL statement) */
extern bool tm_insert_tasks_direct(text *queue, const TmNewTask *tasks, int n);

/*
 * Built from tm_fields at load time (tm_build_enqueue_sql, from _PG_init), each for
 * this version's table [0] and for a 0.1 table [1] (no waiting column; see
 * tm_tasks_have_waiting).
 */
extern const char *tm_enqueue_sql[2];
extern const char *tm_enqueue_plain_sql[2];
extern const char *tm_enqueue_batch_sql[2];
extern const char *tm_enqueue_batch_plain_sql[2];
extern void tm_build_enqueue_sql(void);
/* the enqueue INSERTs' parameters: $1 queue name, the column fields, the id */
#define TM_INSERT_PARAMS (TF_EXPIRES_IN + 2)
extern void tm_enqueue_argtypes(Oid *argtypes, bool batch);
extern const char *const tm_ack_sql;
extern const char *const tm_ack_many_sql;
extern const char *const tm_ack_delete_sql;
extern const char *const tm_ack_many_delete_sql;
extern const char *const tm_nack_sql;
extern const char *const tm_extend_sql;
extern const char *const tm_requeue_sql;
extern const char *const tm_release_sql;
/* the statements' parameter types (the plans' and taskmill.hot_statements()'s) */
extern const Oid tm_ack_argtypes[3];	/* ack, ack_delete */
extern const Oid tm_ack_many_argtypes[3];	/* ack_many, ack_many_delete */
extern const Oid tm_nack_argtypes[4];
extern const Oid tm_extend_argtypes[3];
extern const Oid tm_release_argtypes[2];
extern const Oid tm_requeue_argtypes[1];
extern const Oid tm_dequeue_argtypes[4];	/* dequeue: the first 3 */

/* task_rels.c: taskmill.tasks's indexes, and probes of them before a claim */
typedef enum TmProbe
{
	TM_PROBE_WAITING,			/* tasks_waiting_idx: a waiting task due */
	TM_PROBE_LEASED,			/* tasks_leased_idx: a delivery timed out */
	TM_PROBE_GROUPS,			/* tasks_group_idx: a grouped task in the queue */
	TM_PROBE_COUNT
} TmProbe;
#define TM_PROBE_BIT(p)			(1u << (p))
extern uint32 tm_probe(Datum queue, uint32 probes);

/* fifo.c: FIFO groups (blocked candidates, parking, waking the next head) */
#define TM_PARK_RECHECK "10 seconds"	/* a parked task's parked_until, from now() */
extern const char *const tm_fifo_blocked_sql;
extern const char *tm_fifo_lock_sql(void);
extern const char *const tm_wake_heads_sql;
extern void tm_wake_group_heads(Datum queue_names, Datum task_group_ids);
extern const Oid tm_wake_heads_argtypes[2];
extern char *tm_park_sql(void);
extern const Oid tm_park_argtypes[1];
extern void tm_park(Datum *ids, int n);

/* groups whose head left a transaction's statements, to wake in one statement */
typedef struct TmGroups
{
	int			n;
	int			cap;
	Datum	   *queues;			/* text */
	Datum	   *groups;			/* text */
} TmGroups;
extern void tm_groups_init(TmGroups *g);
extern void tm_groups_add(TmGroups *g, Datum queue_name, Datum task_group_id);
extern void tm_groups_wake(TmGroups *g);

/* ack.c: the ack and nack halves of ack_dequeue (inside SPI) */
extern int	tm_deliveries_arg(FunctionCallInfo fcinfo, int argno, ArrayType **ids,
							  ArrayType **leases, ArrayType **results);
extern int32 tm_ack_deliveries(Datum ids, Datum leases, Datum results, bool results_null);
extern void tm_nack_delivery(Datum id, Datum lease, Datum error, bool error_null);

/* enqueue.c */
extern void tm_notify_queue(const char *queue_name);

/* notify.c: NOTIFY at commit only if an idle worker holds the queue's wait lock. */
extern void tm_notify_queue_if_waiting(const char *queue_name);

/* validate.c: P0002 for a task id that names no task. */
extern void tm_raise_task_not_found(int64 task_id);

#endif							/* TASKMILL_H */
