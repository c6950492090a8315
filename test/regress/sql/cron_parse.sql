-- The cron parser: accepted expressions (Vixie cron / pg_cron syntax) and every kind of
-- rejection, with its SQLSTATE, message and detail.
\i test/regress/sql/include/setup.psql

-- Accepted: the first run after a fixed Monday, 2026-11-23 10:07 UTC, shows what each means.
SELECT expr, taskmill.cron_validate(expr) AS valid,
       taskmill.cron_next(expr, '2026-11-23 10:07:00+00') AS next_run
FROM (VALUES
	('* * * * *'),
	('*/15 9-17 * * 1-5'),
	('1-30/5 * * * *'),
	('0 */6 * * *'),
	('5,10,15 1 * * *'),
	('0 0 1 * *'),
	('0 0 * * 0'),
	('0 0 * * 7'),
	('0 0 * * sun'),
	('0 0 * * SAT,Sun'),
	('0 12 * jan-MAR mon-fri'),
	('0 12 1 Dec *'),
	('0 0 13 * 5'),
	('0 0 */10 * 5'),
	('0 0 13 * */3'),
	('59 23 31 12 *'),
	('0 0 29 2 *'),
	('  0   12  *  *  *  '),
	(E'0\t12\t*\t*\t*'),
	('0-59/20 0-23/12 1-31/15 1-12/6 0-7/7'),
	('*/100 * * * *'),
	('@yearly'),
	('@annually'),
	('@monthly'),
	('@weekly'),
	('@daily'),
	('@midnight'),
	('@hourly'),
	('@HOURLY'),
	('  @daily  ')
) AS t(expr);

-- Rejected, each naming the field and the value.
SELECT expr, pg_temp.err(format('SELECT taskmill.cron_validate(%L)', expr)) AS error
FROM (VALUES
	('60 * * * *'),
	('* 24 * * *'),
	('* * 0 * *'),
	('* * 32 * *'),
	('* * * 0 *'),
	('* * * 13 *'),
	('* * * * 8'),
	('99999999999999999999 * * * *'),
	('-1 * * * *'),
	('* * *'),
	(''),
	('   '),
	('* * * * * *'),
	('* * * * * /bin/true'),
	('abc * * * *'),
	('* * * janu *'),
	('* * * * monday'),
	('jan * * * *'),
	('* * * * jan'),
	('* * mon * *'),
	('30-10 * * * *'),
	('* * * * fri-mon'),
	('*/0 * * * *'),
	('5/10 * * * *'),
	('*/x * * * *'),
	('1,,2 * * * *'),
	('1, * * * *'),
	(',1 * * * *'),
	('1-2-3 * * * *'),
	('1- * * * *'),
	('*1 * * * *'),
	('** * * * *'),
	('1.5 * * * *'),
	('@reboot'),
	('@daily 0'),
	('@'),
	('0 12 * * * ' || repeat('x', 100)),
	(repeat('9', 60) || ' * * * *'),
	('* * * * ' || repeat('é', 50))
) AS t(expr);

-- NULL in, NULL out.
SELECT taskmill.cron_validate(NULL) IS NULL AS validate_null;
