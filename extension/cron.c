/*
 * cron.c
 *		Cron expressions (Vixie cron / pg_cron semantics) and the next run time.
 *
 * The first half is plain C: the parser, the matcher and a search over wall-clock
 * minutes.  It allocates nothing and calls nothing from the backend, so the fuzz target
 * builds it with -DCRON_STANDALONE.  The second half maps wall-clock minutes to instants
 * in an IANA time zone (PostgreSQL's own tz code) and holds the SQL-callable functions
 * taskmill.cron_next and taskmill.cron_validate.
 */
#ifdef CRON_STANDALONE
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
/* c.h's, for the fuzz build without postgres.h */
#define pg_attribute_printf(f, a) __attribute__((format(printf, f, a)))
#else
#include "postgres.h"

#include "fmgr.h"
#include "pgtime.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/timestamp.h"
#endif

#include "cron.h"
#ifndef CRON_STANDALONE
#include "taskmill.h"
#endif

#define NFIELDS 5

static const char *const field_label[NFIELDS] = {
	"Minute", "Hour", "Day of month", "Month", "Day of week"
};
static const int field_low[NFIELDS] = {0, 0, 1, 1, 0};
static const int field_high[NFIELDS] = {59, 23, 31, 12, 7};

static const char *const month_names[] = {
	"jan", "feb", "mar", "apr", "may", "jun",
	"jul", "aug", "sep", "oct", "nov", "dec", NULL
};
static const char *const dow_names[] = {
	"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL
};

/* Numbers saturate here, far above any field's range, so no input can overflow. */
#define NUMBER_CAP 1000000

/* Tokens quoted in messages are cut to this many bytes (on a character boundary). */
#define QUOTE_MAX 40

static bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static bool
is_alnum(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static char
to_lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char) (c - 'A' + 'a') : c;
}

static void set_detail(char *detail, size_t len, const char *fmt,...) pg_attribute_printf(3, 4);

static void
set_detail(char *detail, size_t len, const char *fmt,...)
{
	va_list		ap;

	if (detail == NULL || len == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(detail, len, fmt, ap);
	va_end(ap);
}

/*
 * How many bytes of a token to quote in a message: at most QUOTE_MAX, never cutting a
 * UTF-8 character in two (a cut character would make the message itself invalid).
 */
static int
quote_len(const char *s, int len, const char **ellipsis)
{
	*ellipsis = "";
	if (len <= QUOTE_MAX)
		return len;
	*ellipsis = "...";
	len = QUOTE_MAX;
	while (len > 0 && (((unsigned char) s[len]) & 0xC0) == 0x80)
		len--;
	return len;
}

/*
 * Read a number or a name at s[*pos..end).  Returns 0 on success, -1 when the token
 * is empty, -2 when it is neither a number nor a known name.  *tok_start and *tok_len give
 * the token for messages.
 */
static int
read_value(const char *s, int *pos, int end, const char *const *names,
		   int *value, int *tok_start, int *tok_len)
{
	int			start = *pos;
	int			p = start;
	bool		all_digits = true;
	long		v = 0;

	while (p < end && is_alnum(s[p]))
	{
		if (s[p] < '0' || s[p] > '9')
			all_digits = false;
		p++;
	}
	*tok_start = start;
	*tok_len = p - start;
	*pos = p;
	if (p == start)
		return -1;
	if (all_digits)
	{
		for (int i = start; i < p; i++)
		{
			v = v * 10 + (s[i] - '0');
			if (v > NUMBER_CAP)
				v = NUMBER_CAP;
		}
		*value = (int) v;
		return 0;
	}
	if (names != NULL && p - start == 3)
	{
		for (int i = 0; names[i] != NULL; i++)
		{
			if (to_lower(s[start]) == names[i][0] &&
				to_lower(s[start + 1]) == names[i][1] &&
				to_lower(s[start + 2]) == names[i][2])
			{
				*value = (names == month_names) ? i + 1 : i;
				return 0;
			}
		}
	}
	return -2;
}

/*
 * read_value for field f, checked against the field's range: 0 with *value set, -1 when
 * malformed, -2 when the value is unknown or out of range (detail says which).
 */
static int
read_bounded(const char *s, int *pos, int end, int f, int *value, int *ts, int *tl,
			 char *detail, size_t detail_len)
{
	const char *const *names = (f == 3) ? month_names : (f == 4) ? dow_names : NULL;
	const char *ell;
	int			ql;
	int			rc = read_value(s, pos, end, names, value, ts, tl);

	if (rc == -2)
	{
		ql = quote_len(s + *ts, *tl, &ell);
		set_detail(detail, detail_len, "%s \"%.*s%s\" is not a valid value.",
				   field_label[f], ql, s + *ts, ell);
		return -2;
	}
	if (rc == -1)
		return -1;
	if (*value < field_low[f] || *value > field_high[f])
	{
		ql = quote_len(s + *ts, *tl, &ell);
		set_detail(detail, detail_len, "%s %.*s%s is out of range %d-%d.",
				   field_label[f], ql, s + *ts, ell, field_low[f], field_high[f]);
		return -2;
	}
	return 0;
}

/*
 * One element of field f at s[*pos..end): the values lo..hi, every step-th.  0, or -1
 * when malformed, -2 when detail says what is wrong.
 */
static int
parse_element(const char *s, int *pos, int end, int f, int *lo, int *hi, int *step,
			  char *detail, size_t detail_len)
{
	const char *label = field_label[f];
	bool		single = false;
	int			ts,
				tl,
				rc;

	*step = 1;
	if (*pos < end && s[*pos] == '*')
	{
		*lo = field_low[f];
		*hi = field_high[f];
		(*pos)++;
	}
	else
	{
		rc = read_bounded(s, pos, end, f, lo, &ts, &tl, detail, detail_len);
		if (rc != 0)
			return rc;
		*hi = *lo;
		single = true;
		if (*pos < end && s[*pos] == '-')
		{
			int			ts1 = ts,
						tl1 = tl;

			(*pos)++;
			rc = read_bounded(s, pos, end, f, hi, &ts, &tl, detail, detail_len);
			if (rc != 0)
				return rc;
			if (*lo > *hi)
			{
				set_detail(detail, detail_len,
						   "%s range %.*s-%.*s starts after it ends.",
						   label, tl1, s + ts1, tl, s + ts);
				return -2;
			}
			single = false;
		}
	}
	if (*pos < end && s[*pos] == '/')
	{
		if (single)
		{
			set_detail(detail, detail_len,
					   "%s step must follow a range or \"*\", as in \"*/15\" or \"0-30/5\".",
					   label);
			return -2;
		}
		(*pos)++;
		if (read_value(s, pos, end, NULL, step, &ts, &tl) != 0)
			return -1;
		if (*step < 1)
		{
			set_detail(detail, detail_len, "%s step %.*s must be at least 1.",
					   label, tl, s + ts);
			return -2;
		}
	}
	return 0;
}

/*
 * Parse one field s[start..end) into a bit set.  Grammar (Vixie cron):
 *   field   = element { "," element }
 *   element = "*" [ "/" step ] | value [ "-" value [ "/" step ] ]
 */
static bool
parse_field(const char *s, int start, int end, int f, uint64_t *bits,
			char *detail, size_t detail_len)
{
	int			pos = start;
	const char *ell;
	int			ql;

	*bits = 0;
	for (;;)
	{
		int			lo,
					hi,
					step;
		int			rc = parse_element(s, &pos, end, f, &lo, &hi, &step, detail, detail_len);

		if (rc == -2)
			return false;
		if (rc == -1 || (pos < end && s[pos] != ','))
			goto malformed;
		for (int v = lo; v <= hi; v += step)
			*bits |= (uint64_t) 1 << v;
		if (pos >= end)
			break;
		pos++;					/* the comma */
		if (pos >= end)
			goto malformed;		/* trailing comma */
	}
	return true;

malformed:
	ql = quote_len(s + start, end - start, &ell);
	set_detail(detail, detail_len, "%s field \"%.*s%s\" is malformed.",
			   field_label[f], ql, s + start, ell);
	return false;
}

static bool
parse_fields(const char *s, CronExpr *out, char *detail, size_t detail_len)
{
	int			fstart[NFIELDS];
	int			fend[NFIELDS];
	int			nfields = 0;
	int			p = 0;
	uint64_t	bits[NFIELDS];

	while (s[p] != '\0')
	{
		int			start;

		while (s[p] != '\0' && is_space(s[p]))
			p++;
		if (s[p] == '\0')
			break;
		start = p;
		while (s[p] != '\0' && !is_space(s[p]))
			p++;
		if (nfields < NFIELDS)
		{
			fstart[nfields] = start;
			fend[nfields] = p;
		}
		if (nfields < 1000000)
			nfields++;
	}
	if (nfields != NFIELDS)
	{
		set_detail(detail, detail_len, "Expected 5 fields, got %d%s.",
				   nfields, nfields >= 1000000 ? " or more" : "");
		return false;
	}
	for (int f = 0; f < NFIELDS; f++)
	{
		if (!parse_field(s, fstart[f], fend[f], f, &bits[f], detail, detail_len))
			return false;
	}
	out->minutes = bits[0];
	out->hours = (uint32_t) bits[1];
	out->days_of_month = (uint32_t) bits[2];
	out->months = (uint32_t) bits[3];
	/* 0 and 7 are both Sunday */
	out->days_of_week = (uint32_t) ((bits[4] | (bits[4] >> 7)) & 0x7F);
	out->dom_star = (s[fstart[2]] == '*');
	out->dow_star = (s[fstart[4]] == '*');
	return true;
}

/*
 * Parse a cron expression.  On failure returns false and writes a one-sentence detail
 * ("Minute 60 is out of range 0-59.") to detail.  expr must be NUL-terminated.
 */
bool
cron_parse(const char *expr, CronExpr *out, char *detail, size_t detail_len)
{
	static const struct
	{
		const char *name;
		const char *expansion;
	}			macros[] = {
		{"yearly", "0 0 1 1 *"},
		{"annually", "0 0 1 1 *"},
		{"monthly", "0 0 1 * *"},
		{"weekly", "0 0 * * 0"},
		{"daily", "0 0 * * *"},
		{"midnight", "0 0 * * *"},
		{"hourly", "0 * * * *"},
	};
	int			p = 0;

	memset(out, 0, sizeof(*out));
	if (detail != NULL && detail_len > 0)
		detail[0] = '\0';
	while (expr[p] != '\0' && is_space(expr[p]))
		p++;
	if (expr[p] == '@')
	{
		int			start = p + 1;
		int			end = start;
		int			q;
		const char *ell;
		int			ql;

		while (expr[end] != '\0' && !is_space(expr[end]))
			end++;
		for (q = end; expr[q] != '\0' && is_space(expr[q]); q++)
			;
		for (size_t i = 0; i < sizeof(macros) / sizeof(macros[0]); i++)
		{
			size_t		n = strlen(macros[i].name);
			bool		same = ((size_t) (end - start) == n);

			for (size_t k = 0; same && k < n; k++)
				same = (to_lower(expr[start + k]) == macros[i].name[k]);
			if (!same)
				continue;
			if (expr[q] != '\0')
			{
				set_detail(detail, detail_len,
						   "Macro \"@%s\" cannot be followed by other fields.",
						   macros[i].name);
				return false;
			}
			return parse_fields(macros[i].expansion, out, detail, detail_len);
		}
		ql = quote_len(expr + p, end - p, &ell);
		set_detail(detail, detail_len,
				   "Unknown macro \"%.*s%s\"; the macros are @yearly, @annually, @monthly, @weekly, @daily, @midnight and @hourly.",
				   ql, expr + p, ell);
		return false;
	}
	return parse_fields(expr, out, detail, detail_len);
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
int64_t
cron_days_from_civil(int64_t y, int m, int d)
{
	int64_t		era;
	int64_t		yoe,
				doy,
				doe;

	y -= (m <= 2);
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

void
cron_civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	int64_t		era,
				doe,
				yoe,
				doy,
				mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int) (doy - (153 * mp + 2) / 5 + 1);
	*m = (int) (mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

int
cron_days_in_month(int64_t y, int m)
{
	static const int dim[13] = {0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return dim[m];
}

static int64_t
floor_div(int64_t a, int64_t b)
{
	int64_t		q = a / b;

	if ((a % b != 0) && ((a < 0) != (b < 0)))
		q--;
	return q;
}

/* 1970-01-01 was a Thursday. */
static int
weekday_of(int64_t days)
{
	int64_t		w = (days + 4) % 7;

	return (int) (w < 0 ? w + 7 : w);
}

static bool
day_matches(const CronExpr *e, int64_t days, int dom)
{
	bool		dom_ok = (e->days_of_month >> dom) & 1;
	bool		dow_ok = (e->days_of_week >> weekday_of(days)) & 1;

	if (e->dom_star || e->dow_star)
		return dom_ok && dow_ok;
	return dom_ok || dow_ok;
}

static bool
minute_in_range(CronMinute m)
{
	static const int64_t lo = (int64_t) -719162 * 1440;	/* 0001-01-01 */
	static const int64_t hi = (int64_t) 108857727 * 1440;	/* ~ year 300000 */

	return m >= lo && m <= hi;
}

/* Does the wall-clock minute m match the expression? */
bool
cron_matches(const CronExpr *e, CronMinute m)
{
	int64_t		days,
				y;
	int			mo,
				d,
				rem;

	if (!minute_in_range(m))
		return false;
	days = floor_div(m, 1440);
	rem = (int) (m - days * 1440);
	cron_civil_from_days(days, &y, &mo, &d);
	return ((e->minutes >> (rem % 60)) & 1) &&
		((e->hours >> (rem / 60)) & 1) &&
		((e->months >> mo) & 1) &&
		day_matches(e, days, d);
}

/*
 * The first wall-clock minute >= start that matches.  Searches a full 400-year calendar
 * cycle, so false means the expression never matches (e.g. "0 0 30 2 *") or the answer
 * lies beyond year CRON_MAX_YEAR.
 */
bool
cron_next_wall(const CronExpr *e, CronMinute start, CronMinute *next)
{
	int64_t		day,
				last_day;
	int			h,
				mi;

	if (!minute_in_range(start))
		return false;
	day = floor_div(start, 1440);
	h = (int) ((start - day * 1440) / 60);
	mi = (int) ((start - day * 1440) % 60);
	last_day = day + CRON_SEARCH_DAYS;
	for (; day <= last_day; day++, h = 0, mi = 0)
	{
		int64_t		y;
		int			mo,
					d;

		cron_civil_from_days(day, &y, &mo, &d);
		if (y > CRON_MAX_YEAR)
			return false;
		if (!((e->months >> mo) & 1))
		{
			day += cron_days_in_month(y, mo) - d;	/* loop step moves to the 1st */
			continue;
		}
		if (!day_matches(e, day, d))
			continue;
		for (int hh = h; hh < 24; hh++)
		{
			if (!((e->hours >> hh) & 1))
				continue;
			for (int mm = (hh == h ? mi : 0); mm < 60; mm++)
			{
				if ((e->minutes >> mm) & 1)
				{
					*next = day * 1440 + hh * 60 + mm;
					return true;
				}
			}
		}
	}
	return false;
}

#ifndef CRON_STANDALONE

/* Seconds from the Unix epoch to PostgreSQL's (2000-01-01). */
#define PG_EPOCH_UNIX_SECS ((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY)

/* Parse or raise 22023 naming the expression and, in the detail, the bad field. */
void
taskmill_cron_parse_or_error(const char *expr, CronExpr *out)
{
	char		detail[CRON_DETAIL_LEN];

	if (!cron_parse(expr, out, detail, sizeof(detail)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid cron expression \"%s\"", tm_quote(expr, strlen(expr))),
				 errdetail("%s", detail)));
}

/* Look up an IANA zone name, or raise 22023. */
pg_tz *
taskmill_cron_timezone(const char *name)
{
	pg_tz	   *tz = NULL;

	if (name[0] != '\0' && strlen(name) <= TZ_STRLEN_MAX)
		tz = pg_tzset(name);
	if (tz == NULL || !pg_tz_acceptable(tz))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("time zone \"%s\" is not recognized", tm_quote(name, strlen(name))),
				 errdetail("Use an IANA time zone name such as \"UTC\" or \"Europe/London\".")));
	return tz;
}

/*
 * The instant (Unix seconds) at which wall-clock second wall_secs happens in tz:
 *  - a wall time that happens once: that instant;
 *  - one that happens twice (the repeated hour when clocks go back): the first;
 *  - one that never happens (the hour skipped when clocks go forward): the moment the
 *    clocks jump, i.e. a job set inside the gap runs right after it, as Vixie cron runs
 *    the fixed-time jobs of a skipped interval.
 * Walks the zone's offset segments over a window wider than any UTC offset.
 */
static pg_time_t
instant_of_wall(pg_time_t wall_secs, const pg_tz *tz)
{
	pg_time_t	seg_start = wall_secs - 30 * SECS_PER_HOUR;
	pg_time_t	window_end = wall_secs + 30 * SECS_PER_HOUR;
	long int	before_off = 0,
				after_off = 0;
	int			before_dst,
				after_dst;
	pg_time_t	boundary = 0;

	for (int i = 0; i < 64; i++)
	{
		int			r = pg_next_dst_boundary(&seg_start, &before_off, &before_dst,
											 &boundary, &after_off, &after_dst, tz);
		pg_time_t	cand = wall_secs - before_off;

		if (r < 0)
			break;
		if (cand >= seg_start && (r == 0 || cand < boundary))
			return cand;
		if (r == 0)
			break;
		if (wall_secs >= boundary + before_off && wall_secs < boundary + after_off)
			return boundary;	/* skipped by a forward jump */
		if (boundary > window_end || boundary <= seg_start)
			break;
		seg_start = boundary;
	}
	/* Not reached with real zone data; fall back on the last offset seen. */
	return wall_secs - before_off;
}

/*
 * The first firing instant strictly after `after`, evaluated in tz's wall clock.
 * Firing instants are instant_of_wall() of the matching wall minutes; that map never
 * decreases, so the walk goes through matching wall minutes in order from the minute
 * after `after`'s own and stops at the first whose instant lies after `after`.  In the
 * repeated hour the minutes already seen map to their first occurrence, which is in the
 * past, so nothing fires twice for one wall minute.  Returns false when there is no
 * such time (the expression never matches, or the answer is out of timestamp range).
 */
bool
taskmill_cron_next_time(const CronExpr *e, pg_tz *tz, TimestampTz after,
						TimestampTz *result)
{
	int64		secs;
	struct pg_tm *tm;
	CronMinute	cur;

	if (TIMESTAMP_NOT_FINITE(after))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range"),
				 errdetail("The next run time is only defined after a finite timestamp.")));
	secs = after / USECS_PER_SEC;
	if (after % USECS_PER_SEC < 0)
		secs--;
	secs += PG_EPOCH_UNIX_SECS;
	tm = pg_localtime(&secs, tz);
	if (tm == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range")));
	cur = floor_div(secs + tm->tm_gmtoff, 60) + 1;

	for (int i = 0; i < 100000; i++)
	{
		CronMinute	w;
		pg_time_t	inst;
		int64		pgsecs;
		TimestampTz ts;

		if (!cron_next_wall(e, cur, &w))
			return false;
		inst = instant_of_wall((pg_time_t) w * 60, tz);
		pgsecs = inst - PG_EPOCH_UNIX_SECS;
		if (pgsecs > END_TIMESTAMP / USECS_PER_SEC)
			return false;
		ts = (TimestampTz) pgsecs * USECS_PER_SEC;
		if (ts > after)
		{
			if (!IS_VALID_TIMESTAMP(ts))
				return false;
			*result = ts;
			return true;
		}
		cur = w + 1;
	}
	return false;
}

PG_FUNCTION_INFO_V1(taskmill_cron_next);
PG_FUNCTION_INFO_V1(taskmill_cron_validate);

/*
 * taskmill.cron_next(expr text, after timestamptz, timezone text DEFAULT 'UTC')
 *		RETURNS timestamptz; NULL when the expression never fires.
 */
Datum
taskmill_cron_next(PG_FUNCTION_ARGS)
{
	char	   *expr = text_to_cstring(PG_GETARG_TEXT_PP(0));
	TimestampTz after = PG_GETARG_TIMESTAMPTZ(1);
	char	   *zone = text_to_cstring(PG_GETARG_TEXT_PP(2));
	CronExpr	e;
	pg_tz	   *tz;
	TimestampTz next;

	taskmill_cron_parse_or_error(expr, &e);
	tz = taskmill_cron_timezone(zone);
	if (!taskmill_cron_next_time(&e, tz, after, &next))
		PG_RETURN_NULL();
	PG_RETURN_TIMESTAMPTZ(next);
}

/* taskmill.cron_validate(expr text) RETURNS boolean: true, or the parse error. */
Datum
taskmill_cron_validate(PG_FUNCTION_ARGS)
{
	char	   *expr = text_to_cstring(PG_GETARG_TEXT_PP(0));
	CronExpr	e;

	taskmill_cron_parse_or_error(expr, &e);
	PG_RETURN_BOOL(true);
}

#endif							/* !CRON_STANDALONE */
