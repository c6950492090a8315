/*
 * cron.h
 *		Cron expressions: the parsed form, the parser and the wall-clock search.
 *
 * The parser and the search are plain C with no backend calls, so the fuzz target
 * (test/cron/fuzz_cron.c) builds them standalone with -DCRON_STANDALONE.  Time zones,
 * ereport and the SQL-callable functions live in the backend half of cron.c.
 */
#ifndef TASKMILL_CRON_H
#define TASKMILL_CRON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * A parsed expression: one bit per allowed value.  dom_star and dow_star follow Vixie
 * cron: they are set when the field begins with '*', and when either is set a day must
 * match both day fields; otherwise (both restricted) it matches either.
 */
typedef struct CronExpr
{
	uint64_t	minutes;		/* bits 0..59 */
	uint32_t	hours;			/* bits 0..23 */
	uint32_t	days_of_month;	/* bits 1..31 */
	uint32_t	months;			/* bits 1..12 */
	uint32_t	days_of_week;	/* bits 0..6, Sunday = 0 (7 is folded into 0) */
	bool		dom_star;
	bool		dow_star;
} CronExpr;

/* Room for the longest detail message cron_parse writes. */
#define CRON_DETAIL_LEN 256

/*
 * Wall-clock minutes are counted from 1970-01-01 00:00 of a proleptic Gregorian
 * calendar with no time zone ("naive" local time).
 */
typedef int64_t CronMinute;

/* Bounds of the wall clock the search works in: years 1 .. 300000. */
#define CRON_MIN_YEAR 1
#define CRON_MAX_YEAR 300000

/* The calendar repeats every 400 years, so a search longer than that finds nothing new. */
#define CRON_SEARCH_DAYS (146097 + 366)

extern bool cron_parse(const char *expr, CronExpr *out, char *detail, size_t detail_len);
extern bool cron_matches(const CronExpr *e, CronMinute m);
extern bool cron_next_wall(const CronExpr *e, CronMinute start, CronMinute *next);

extern int64_t cron_days_from_civil(int64_t y, int m, int d);
extern void cron_civil_from_days(int64_t days, int64_t *y, int *m, int *d);
extern int	cron_days_in_month(int64_t y, int m);

#ifndef CRON_STANDALONE
#include "datatype/timestamp.h"
#include "pgtime.h"

extern void taskmill_cron_parse_or_error(const char *expr, CronExpr *out);
extern pg_tz *taskmill_cron_timezone(const char *name);
extern bool taskmill_cron_next_time(const CronExpr *e, pg_tz *tz, TimestampTz after,
									TimestampTz *result);
#endif

#endif							/* TASKMILL_CRON_H */
