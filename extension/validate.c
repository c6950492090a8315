/*
 * validate.c
 *		Argument checks shared by the queue functions. Each raises the SQLSTATE that
 *		docs/sql-api.md names, with a message in PostgreSQL's style, before anything is
 *		written. A message quotes at most TM_QUOTE_MAX_BYTES of a caller's value
 *		(tm_quote), so a huge bad input cannot flood the server log.
 */
#include "postgres.h"

#include "access/xact.h"
#include "datatype/timestamp.h"
#include "mb/pg_wchar.h"
#include "access/detoast.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/fmgrprotos.h"
#include "utils/timestamp.h"

#include "taskmill.h"

/*
 * A caller's value for a message: the whole of it if short, else its first
 * TM_QUOTE_MAX_BYTES bytes (cut on a character boundary) and "...".
 */
char *
tm_quote(const char *value, int len)
{
	int			cut;

	if (len <= TM_QUOTE_MAX_BYTES)
		return pnstrdup(value, len);
	cut = pg_mbcliplen(value, len, TM_QUOTE_MAX_BYTES);
	return psprintf("%.*s...", cut, value);
}

/* "null", "string", ... for a JsonbValue's type (is_array: a jbvBinary array). */
const char *
tm_json_type_name(int jbv_type, bool is_array)
{
	switch (jbv_type)
	{
		case jbvNull:
			return "null";
		case jbvString:
			return "string";
		case jbvNumeric:
			return "number";
		case jbvBool:
			return "boolean";
		case jbvBinary:
		case jbvArray:
		case jbvObject:
			return is_array || jbv_type == jbvArray ? "array" : "object";
		default:
			return "value";
	}
}

/* A value of bytes bytes where the GUC guc allows limit: 54000 if it is larger. */
void
tm_check_size(const char *what, Size bytes, int limit, const char *guc)
{
	if (bytes > (Size) limit)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s is too large", what),
				 errdetail("The %s has %zu bytes; %s allows %d.", what, bytes, guc, limit)));
}

/* count items of one call where the GUC guc allows limit: 54000 if more. */
void
tm_check_count(const char *what, int64 count, int limit, const char *guc)
{
	if (count > limit)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many %s in one call", what),
				 errdetail("The call has " INT64_FORMAT " %s; %s allows %d.", count, what, guc, limit)));
}

/* Paired array arguments: other (m elements) must be as long as first (n). */
void
tm_check_same_length(const char *first, int n, const char *other, int m)
{
	if (m != n)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s and %s must have the same length", first, other),
				 errdetail("%s has %d elements and %s has %d.", first, n, other, m)));
}

/* A task's result (jsonb) for ack: at most taskmill.max_result_bytes. */
void
tm_check_result_size(Datum result)
{
	tm_check_size("result", toast_raw_datum_size(result) - VARHDRSZ, tm_max_result_bytes,
				  "taskmill.max_result_bytes");
}

/* Each element of ack_many's results array. */
void
tm_check_result_array(ArrayType *results)
{
	ArrayIterator it = array_create_iterator(results, 0, NULL);
	Datum		value;
	bool		isnull;

	while (array_iterate(it, &value, &isnull))
		if (!isnull)
			tm_check_result_size(value);
	array_free_iterator(it);
}

/* A delivery's error (text) for nack: at most taskmill.max_error_bytes. */
void
tm_check_error_size(Datum error)
{
	tm_check_size("error", toast_raw_datum_size(error) - VARHDRSZ, tm_max_error_bytes,
				  "taskmill.max_error_bytes");
}

/* Raise 22004 when argument argno is NULL. */
void
tm_require_arg(FunctionCallInfo fcinfo, int argno, const char *what)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", what)));
}

/* Validate a queue name, operation id or group id: not empty, not absurdly long. */
void
tm_check_name(const char *value, int len, const char *what)
{
	if (len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be empty", what)));
	if (len > TM_NAME_MAX_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s is too long", what),
				 errdetail("The value has %d bytes; at most %d are allowed.",
						   len, TM_NAME_MAX_BYTES)));
}

/* A required, non-empty name argument (queue name, operation id). */
text *
tm_arg_name(FunctionCallInfo fcinfo, int argno, const char *what)
{
	text	   *t;

	tm_require_arg(fcinfo, argno, what);
	t = PG_GETARG_TEXT_PP(argno);
	tm_check_name(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), what);
	return t;
}

void
tm_check_priority(int32 priority)
{
	if (priority < TM_PRIORITY_MIN || priority > TM_PRIORITY_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("priority %d is out of range", priority),
				 errdetail("Priority must be between %d and %d.",
						   TM_PRIORITY_MIN, TM_PRIORITY_MAX)));
}

void
tm_check_max_attempts(int32 max_attempts)
{
	if (max_attempts < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_attempts %d is out of range", max_attempts),
				 errdetail("max_attempts must be at least 1.")));
}

/* taskmill's own key namespaces, which no caller may write. */
static const struct
{
	const char *prefix;
	const char *whose;
	const char *hint;
}			reserved_keys[] = {
	{TM_GENERATED_KEY_PREFIX, "the keys taskmill generates for tasks enqueued without one",
	"Pass NULL to have a key generated, or choose another prefix."},
	{TM_SCHEDULE_KEY_PREFIX, "the keys of schedule ticks, which only the scheduler writes",
	"Choose another prefix."},
};

/*
 * A caller's idempotency key: not empty, and in neither of taskmill's own namespaces
 * (generated keys, schedule ticks).
 */
void
tm_check_idempotency_key(const char *key, int len)
{
	if (len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("idempotency key must not be empty"),
				 errdetail("Pass NULL to have a unique key generated.")));
	if (len > tm_max_key_bytes)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("idempotency key \"%s\" is too long", tm_quote(key, len)),
				 errdetail("The key has %d bytes; taskmill.max_key_bytes allows %d.",
						   len, tm_max_key_bytes)));
	for (int i = 0; i < (int) lengthof(reserved_keys); i++)
	{
		int			plen = strlen(reserved_keys[i].prefix);

		if (len >= plen && memcmp(key, reserved_keys[i].prefix, plen) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("idempotency key \"%s\" is reserved", tm_quote(key, len)),
					 errdetail("Keys beginning with \"%s\" are %s.", reserved_keys[i].prefix,
							   reserved_keys[i].whose),
					 errhint("%s", reserved_keys[i].hint)));
	}
}

/* Intervals for visibility timeouts and retry delays must not be negative. */
void
tm_check_interval_not_negative(Datum interval, const char *what)
{
	Interval   *zero = (Interval *) palloc0(sizeof(Interval));

	if (DatumGetBool(DirectFunctionCall2(interval_lt, interval, IntervalPGetDatum(zero))))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be negative", what),
				 errdetail("The %s given was \"%s\".", what,
						   DatumGetCString(DirectFunctionCall1(interval_out, interval)))));
}

void
tm_check_expiry(Datum scheduled_at, Datum expires_at)
{
	TimestampTz s = DatumGetTimestampTz(scheduled_at);
	TimestampTz e = DatumGetTimestampTz(expires_at);

	if (e < s)
	{
		/* timestamptz_to_str returns a static buffer: copy the first one */
		char	   *es = pstrdup(timestamptz_to_str(e));

		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("expires_at is before scheduled_at"),
				 errdetail("The task would expire at %s, before it is scheduled at %s.",
						   es, timestamptz_to_str(s))));
	}
}

/*
 * A task's start time: finite and at most TM_SCHEDULED_AHEAD_MAX_YEARS after the
 * transaction's start (the now() the task's other times are read against).
 */
void
tm_check_scheduled_at(Datum scheduled_at)
{
	TimestampTz s = DatumGetTimestampTz(scheduled_at);
	Interval	ahead;
	TimestampTz bound;

	if (TIMESTAMP_NOT_FINITE(s))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("scheduled_at must be a finite time"),
				 errdetail("The value given is %s; a task may be scheduled at most %d years ahead.",
						   TIMESTAMP_IS_NOBEGIN(s) ? "-infinity" : "infinity",
						   TM_SCHEDULED_AHEAD_MAX_YEARS)));
	memset(&ahead, 0, sizeof(ahead));
	ahead.month = TM_SCHEDULED_AHEAD_MAX_YEARS * MONTHS_PER_YEAR;
	bound = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
													TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()),
													IntervalPGetDatum(&ahead)));
	if (s > bound)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("scheduled_at is more than %d years ahead", TM_SCHEDULED_AHEAD_MAX_YEARS),
				 errdetail("The value given is %s; a task may be scheduled at most %d years after now().",
						   timestamptz_to_str(s), TM_SCHEDULED_AHEAD_MAX_YEARS)));
}

/* A required task id argument. */
int64
tm_arg_task_id(FunctionCallInfo fcinfo, int argno)
{
	tm_require_arg(fcinfo, argno, "task_id");
	return PG_GETARG_INT64(argno);
}

void
tm_raise_task_not_found(int64 task_id)
{
	ereport(ERROR,
			(errcode(ERRCODE_NO_DATA_FOUND),
			 errmsg("task %lld does not exist", (long long) task_id)));
}
