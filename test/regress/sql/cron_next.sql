-- taskmill.cron_next: the first firing strictly after a time, in an IANA zone's wall clock,
-- across month ends, leap years and daylight-saving changes.
\i test/regress/sql/include/setup.psql

-- Each case: expression, instant, zone -> next run in UTC and in the zone's wall clock.
CREATE FUNCTION pg_temp.nxt(expr text, after timestamptz, zone text DEFAULT 'UTC',
	OUT utc text, OUT wall text) LANGUAGE sql AS $$
	SELECT to_char(n AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI Dy') || ' UTC',
	       to_char(n AT TIME ZONE zone, 'YYYY-MM-DD HH24:MI') || ' ' || zone
	FROM taskmill.cron_next(expr, after, zone) AS n
$$;

-- strictly after: an instant on a matching minute gives the next one
SELECT 'strictly after' AS c, * FROM pg_temp.nxt('*/15 * * * *', '2026-01-01 10:15:00+00');
SELECT 'seconds truncate' AS c, * FROM pg_temp.nxt('*/15 * * * *', '2026-01-01 10:14:59.999999+00');
SELECT 'every minute' AS c, * FROM pg_temp.nxt('* * * * *', '2026-01-01 10:15:30+00');

-- month ends and years
SELECT 'end of 30-day month' AS c, * FROM pg_temp.nxt('0 0 31 * *', '2026-04-01 00:00+00');
SELECT 'last of year' AS c, * FROM pg_temp.nxt('59 23 31 12 *', '2026-12-31 23:59+00');
SELECT 'new year' AS c, * FROM pg_temp.nxt('@yearly', '2026-12-31 23:59:59+00');
SELECT 'monthly from jan 31' AS c, * FROM pg_temp.nxt('@monthly', '2026-01-31 12:00+00');
SELECT 'day 30 skips feb' AS c, * FROM pg_temp.nxt('0 6 30 * *', '2026-01-30 07:00+00');

-- leap years: Feb 29 only in leap years; 2100 is not one, 2000 was
SELECT 'feb 29 from 2025' AS c, * FROM pg_temp.nxt('0 0 29 2 *', '2025-03-01 00:00+00');
SELECT 'feb 29 from 2028' AS c, * FROM pg_temp.nxt('0 0 29 2 *', '2028-02-29 00:00+00');
SELECT 'feb 29 skips 2100' AS c, * FROM pg_temp.nxt('0 0 29 2 *', '2096-03-01 00:00+00');
SELECT 'feb 29 in 2000' AS c, * FROM pg_temp.nxt('0 0 29 2 *', '1999-06-01 00:00+00');
SELECT 'feb 29 on a sunday' AS c, * FROM pg_temp.nxt('0 0 29 2 */7', '2088-03-01 00:00+00');
SELECT 'never fires' AS c, taskmill.cron_next('0 0 30 2 *', '2026-01-01 00:00+00') IS NULL AS is_null;
SELECT 'never fires (31 apr)' AS c, taskmill.cron_next('0 0 31 4,6,9,11 *', '2026-01-01 00:00+00') IS NULL AS is_null;

-- both day fields restricted: either matches; one starting with '*': both must match
SELECT 'dom or dow' AS c, * FROM pg_temp.nxt('0 0 13 * 5', '2026-11-23 00:00+00');
SELECT 'dom or dow (13th first)' AS c, * FROM pg_temp.nxt('0 0 13 * 5', '2026-02-07 00:00+00');
SELECT 'dom star and dow' AS c, * FROM pg_temp.nxt('0 0 */10 * 5', '2026-11-23 00:00+00');
SELECT 'weekdays 9 to 5' AS c, * FROM pg_temp.nxt('*/15 9-17 * * 1-5', '2026-11-27 17:50+00');
SELECT 'sunday as 7' AS c, * FROM pg_temp.nxt('0 0 * * 7', '2026-11-23 00:00+00');
SELECT 'weekly' AS c, * FROM pg_temp.nxt('@weekly', '2026-11-29 00:00+00');

-- zones with fractional offsets
SELECT 'kolkata' AS c, * FROM pg_temp.nxt('0 9 * * *', '2026-06-01 00:00+00', 'Asia/Kolkata');
SELECT 'kathmandu' AS c, * FROM pg_temp.nxt('0 0 * * *', '2026-06-01 00:00+00', 'Asia/Kathmandu');
SELECT 'chatham' AS c, * FROM pg_temp.nxt('30 12 * * *', '2026-06-01 00:00+00', 'Pacific/Chatham');

-- America/New_York, spring forward 2026-03-08: 02:00 EST -> 03:00 EDT (02:xx never happens).
-- A job set inside the gap runs at the jump (03:00 EDT); the next day at 02:30 EDT as usual.
SELECT 'ny gap 02:30' AS c, * FROM pg_temp.nxt('30 2 * * *', '2026-03-08 00:00-05', 'America/New_York');
SELECT 'ny gap 02:30 next' AS c, * FROM pg_temp.nxt('30 2 * * *', '2026-03-08 03:00-04', 'America/New_York');
SELECT 'ny gap every minute' AS c, * FROM pg_temp.nxt('* * * * *', '2026-03-08 01:59-05', 'America/New_York');
SELECT 'ny gap after jump' AS c, * FROM pg_temp.nxt('* * * * *', '2026-03-08 03:00-04', 'America/New_York');
SELECT 'ny gap hourly' AS c, * FROM pg_temp.nxt('0 * * * *', '2026-03-08 01:00-05', 'America/New_York');
SELECT 'ny 03:30 unaffected' AS c, * FROM pg_temp.nxt('30 3 * * *', '2026-03-08 00:00-05', 'America/New_York');

-- America/New_York, fall back 2026-11-01: 02:00 EDT -> 01:00 EST (01:xx happens twice).
-- A wall minute fires once, at its first occurrence (EDT); the repeated hour fires nothing.
SELECT 'ny overlap 01:30' AS c, * FROM pg_temp.nxt('30 1 * * *', '2026-11-01 00:00-04', 'America/New_York');
SELECT 'ny overlap 01:30 not again' AS c, * FROM pg_temp.nxt('30 1 * * *', '2026-11-01 01:30-04', 'America/New_York');
SELECT 'ny overlap */15 first pass' AS c, * FROM pg_temp.nxt('*/15 * * * *', '2026-11-01 01:40-04', 'America/New_York');
SELECT 'ny overlap */15 second pass' AS c, * FROM pg_temp.nxt('*/15 * * * *', '2026-11-01 01:50-04', 'America/New_York');
SELECT 'ny overlap inside repeat' AS c, * FROM pg_temp.nxt('* * * * *', '2026-11-01 01:10-05', 'America/New_York');
SELECT 'ny daily midnight' AS c, * FROM pg_temp.nxt('@daily', '2026-11-01 00:00-04', 'America/New_York');

-- Europe/London: spring forward 2026-03-29 01:00 GMT -> 02:00 BST; fall back 2026-10-25
-- 02:00 BST -> 01:00 GMT.
SELECT 'london gap 01:30' AS c, * FROM pg_temp.nxt('30 1 * * *', '2026-03-29 00:00+00', 'Europe/London');
SELECT 'london gap 02:00' AS c, * FROM pg_temp.nxt('0 2 * * *', '2026-03-29 00:00+00', 'Europe/London');
SELECT 'london overlap 01:30' AS c, * FROM pg_temp.nxt('30 1 * * *', '2026-10-25 00:00+01', 'Europe/London');
SELECT 'london overlap 01:30 not again' AS c, * FROM pg_temp.nxt('30 1 * * *', '2026-10-25 01:30+01', 'Europe/London');
SELECT 'london hourly across overlap' AS c, * FROM pg_temp.nxt('0 * * * *', '2026-10-25 01:00+01', 'Europe/London');

-- Lord Howe Island moves its clock by 30 minutes (spring forward 2026-10-04 02:00 -> 02:30)
SELECT 'lord howe gap' AS c, * FROM pg_temp.nxt('15 2 * * *', '2026-10-03 12:00+00', 'Australia/Lord_Howe');

-- The default zone is UTC, whatever the session's.
SET timezone = 'America/New_York';
SELECT 'default zone' AS c, taskmill.cron_next('0 12 * * *', '2026-06-01 00:00+00') AT TIME ZONE 'UTC' AS utc;
SET timezone = 'UTC';

-- Errors and NULLs
SELECT pg_temp.err($$SELECT taskmill.cron_next('0 12 * * *', now(), 'Mars/Olympus_Mons')$$);
SELECT pg_temp.err($$SELECT taskmill.cron_next('0 12 * * *', now(), '')$$);
SELECT pg_temp.err($$SELECT taskmill.cron_next('0 12 * * *', now(), repeat('x', 300))$$);
SELECT pg_temp.err($$SELECT taskmill.cron_next('0 12 * * *', 'infinity')$$);
SELECT pg_temp.err($$SELECT taskmill.cron_next('0 12 * * * *', now())$$);
SELECT pg_temp.err($$SELECT taskmill.cron_next('61 12 * * *', now(), 'Mars/Olympus_Mons')$$);
SELECT taskmill.cron_next(NULL, now()) IS NULL AS null_expr,
       taskmill.cron_next('* * * * *', NULL) IS NULL AS null_after,
       taskmill.cron_next('* * * * *', now(), NULL) IS NULL AS null_zone;
-- far future: the answer would be past the end of timestamptz
SELECT 'end of time' AS c, taskmill.cron_next('0 0 1 1 *', '294276-06-01 00:00+00') IS NULL AS is_null;
SELECT 'far future' AS c, * FROM pg_temp.nxt('0 0 29 2 *', '200000-03-01 00:00+00');
