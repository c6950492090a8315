/*
 * fuzz_cron.c
 *		libFuzzer target for the cron parser and the wall-clock search (extension/cron.c
 *		built with -DCRON_STANDALONE): no input may crash, overflow or leak.
 *
 *	clang -g -O1 -DCRON_STANDALONE -fsanitize=fuzzer,address,undefined -Iextension \
 *		test/cron/fuzz_cron.c extension/cron.c -o fuzz_cron
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cron.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *expr;
	CronExpr	e;
	char		detail[CRON_DETAIL_LEN];
	int64_t		start = 0;
	size_t		take = size < 8 ? size : 8;

	/* The first bytes also pick a start minute, so the search is fuzzed too. */
	memcpy(&start, data, take);
	expr = malloc(size + 1);
	if (expr == NULL)
		return 0;
	memcpy(expr, data, size);
	expr[size] = '\0';

	if (cron_parse(expr, &e, detail, sizeof(detail)))
	{
		CronMinute	next;

		if (e.minutes == 0 || e.hours == 0 || e.days_of_month == 0 ||
			e.months == 0 || e.days_of_week == 0)
			abort();			/* a parsed field can never be empty */
		/* spread the start over roughly years 1..300000 */
		start = (int64_t) ((uint64_t) start % (uint64_t) 157000000000LL) - 1000000000LL;
		if (cron_next_wall(&e, start, &next))
		{
			if (next < start || !cron_matches(&e, next))
				abort();
			for (CronMinute m = start; m < next && m < start + 2000; m++)
				if (cron_matches(&e, m))
					abort();	/* skipped an earlier match */
		}
	}
	else if (detail[0] == '\0' || strlen(detail) >= sizeof(detail))
		abort();				/* every rejection explains itself */
	free(expr);
	return 0;
}
