-- The SQL fuzz driver (test/suites/sql_fuzz.sh): schema fuzz, created before the catalog
-- snapshot and dropped after the second one.
--
-- fuzz.case_sql(fn, case_no, seed) writes the statement of one fuzzed call of fn: each
-- argument an SQL expression chosen from the argument's type and name (queue and operation
-- names, cron expressions, time zones, JSON task and schedule documents, arrays, sizes,
-- timestamps, intervals, leases), with NULLs, empty and huge values, unicode, control
-- characters, boundary and out-of-range numbers. random() is seeded from (fn, case, seed)
-- before each case, so a case's statement is a pure function of those three: any case can
-- be written out again and run alone. Huge values are built on the server (repeat(),
-- generate_series), so the statements stay short.
--
-- fuzz.run(fn, cases, seed) runs the cases, each in a subtransaction (an error rolls back
-- that call only; successful calls keep their effects), one case in eight as the role
-- taskmill_fuzz_tenant (every right on the queue "fuzz", none elsewhere: setup.sql), the
-- others as the superuser, committing every 100, and counts
-- the outcomes per SQLSTATE in fuzz.outcomes with the longest error text (message + detail
-- + hint) and an example case. fuzz.exec(fn, case_no, seed) runs one case without catching
-- its error, so the error reaches the server log as a client's would.

SET client_min_messages = warning;
CREATE SCHEMA fuzz;

CREATE TABLE fuzz.outcomes (
	fn				text NOT NULL,
	sqlstate		text NOT NULL,
	calls			integer NOT NULL,
	max_text_bytes	integer NOT NULL,
	max_text_case	integer NOT NULL,
	example_case	integer NOT NULL,
	example_message text,
	PRIMARY KEY (fn, sqlstate)
);

CREATE TABLE fuzz.slowest (
	fn		text PRIMARY KEY,
	case_no integer NOT NULL,
	ms		double precision NOT NULL
);

-- 0 .. n-1
CREATE FUNCTION fuzz.rnd(n integer) RETURNS integer
LANGUAGE sql VOLATILE AS $$ SELECT pg_catalog.floor(pg_catalog.random() * $1)::integer $$;

CREATE FUNCTION fuzz.pick(a text[]) RETURNS text
LANGUAGE sql VOLATILE AS $$ SELECT $1[1 + pg_catalog.floor(pg_catalog.random() * pg_catalog.cardinality($1))::integer] $$;

-- A random string of up to maxlen characters: printable ASCII, control characters, Latin
-- letters and combining marks, CJK, emoji (never NUL or a surrogate: text cannot hold them).
CREATE FUNCTION fuzz.random_string(maxlen integer) RETURNS text
LANGUAGE sql VOLATILE AS $$
	SELECT COALESCE(pg_catalog.string_agg(pg_catalog.chr(CASE
			WHEN s.r < 0.6 THEN 32 + (s.r2 * 95)::integer
			WHEN s.r < 0.7 THEN 1 + (s.r2 * 30)::integer
			WHEN s.r < 0.8 THEN 160 + (s.r2 * 700)::integer
			WHEN s.r < 0.9 THEN 19968 + (s.r2 * 20000)::integer
			ELSE 127744 + (s.r2 * 1500)::integer END), ''), '')
	FROM (SELECT pg_catalog.random() AS r, pg_catalog.random() AS r2
		  FROM pg_catalog.generate_series(1, fuzz.rnd($1 + 1))) s
$$;

CREATE FUNCTION fuzz.names() RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$ SELECT ARRAY[
	'', ' ', 'q', 'fuzz', 'fuzz', 'fuzz', 'emails', 'a', 'taskmill:1', 'taskmill:', 'TASKMILL:2',
	'schedule:tick@2026-01-01T00:00:00Z', 'taskmill-schedule:tick@2026-01-01T00:00:00Z', E'tab\there', E'new\nline', E'cr\rreturn',
	'ünïcödé', '🐴', E'\u202Eevil', '%s%n%x%p', '''; DROP TABLE taskmill.tasks; --',
	'"quoted"', 'NULL', E'back\\slash', pg_catalog.repeat('a', 255), pg_catalog.repeat('a', 256),
	pg_catalog.repeat('é', 128), pg_catalog.repeat('é', 127) || 'a', 'g1', 'g2', 'nightly', 'hourly',
	'*', '%', '_', 'public', 'taskmill', 'pg_catalog', 'postgres', '0', '-1', 'e' || E'\u0301']
$$;

-- Queue rights (grant, revoke, has_queue_right), well and badly spelt.
CREATE FUNCTION fuzz.rights() RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$ SELECT ARRAY[
	'produce', 'consume', 'manage', 'produce', 'consume', 'manage', 'consume, manage',
	'produce,consume,manage', ' manage ', 'PRODUCE', 'read', '', ',', 'produce,,consume', 'all']
$$;

CREATE FUNCTION fuzz.crons() RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$ SELECT ARRAY[
	'* * * * *', '@hourly', '@daily', '@yearly', '@reboot', '@', '@@hourly', '0 3 * * *',
	'*/15 9-17 * * 1-5', '30 6 * * mon-fri', '0 0 29 2 *', '0 0 30 2 *', '0 0 31 4,6,9,11 *',
	'0 0 13 * 5', '59 23 31 12 *', E'0\t0\t*\t*\t*', '  * * * * *  ', '', ' ', '* * *',
	'* * * * * *', '60 * * * *', '-1 * * * *', '*/0 * * * *', '5/10 * * * *', '1,,2 * * * *',
	'30-10 * * * *', '* * * janu *', '* * * * 8', '99999999999999999999 * * * *',
	'1-4294967297 * * * *', '*/4294967296 * * * *', '0 0 L * *', '0 0 ? * *', '0 0 * * 5#3',
	'a b c d e', 'MON * * * *', '* * * JAN-DEC SUN-SAT', '1,2,3,4,5,6,7,8,9,10,11,12 * * * *']
$$;

CREATE FUNCTION fuzz.zones() RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$ SELECT ARRAY[
	'UTC', 'Europe/London', 'America/New_York', 'Asia/Kolkata', 'Pacific/Chatham', 'Etc/GMT-14',
	'Mars/Base', '', 'utc', 'UTC+5', '+05:30', 'EST5EDT', 'posix/Europe/Berlin', 'localtime',
	'../../../../etc/passwd', pg_catalog.repeat('A', 300), 'Europe/', '/', 'Z']
$$;

CREATE FUNCTION fuzz.times() RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$ SELECT ARRAY[
	'2026-01-01T00:00:00Z', '2026-03-08 02:30 America/New_York', 'infinity', '-infinity',
	'294276-12-31 23:59:59+00', '294277-01-01 00:00:00+00', '4713-01-01 00:00:00+00 BC',
	'1970-01-01 00:00:00+00', '2000-02-30', 'now', 'tomorrow', 'not a time', '', '2026-13-01']
$$;

CREATE FUNCTION fuzz.intervals() RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$ SELECT ARRAY[
	'0', '1 second', '-1 second', '1 microsecond', '30 seconds', '1 hour', '100 years',
	'178000000 years', '-178000000 years', '2147483647 days', '-2147483648 days', '1 mon',
	'-1 mon 1 day', '2147483647 hours', 'P1Y2M3DT4H5M6S', 'forever', '', '1 fortnight']
$$;

CREATE FUNCTION fuzz.numbers() RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$ SELECT ARRAY[
	'0', '1', '-1', '2', '3', '5', '7', '10', '99', '100', '101', '-100', '-101', '1000', '10000',
	'10001', '65535', '2147483647', '-2147483648', '2147483648', '-2147483649',
	'9223372036854775807', '-9223372036854775808', '9223372036854775808', '1.5', '-0', '1e308',
	'1e-308', '123456789012345678901234567890123456789012345678901234567890']
$$;

-- An expression giving a text value of the given kind (name, cron, zone, time, interval, any),
-- for a draw r in [0.06, 1) (arg_expr draws it; below 0.06 the argument is NULL).
CREATE FUNCTION fuzz.text_expr(kind text, r double precision) RETURNS text
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
	IF r < 0.5 THEN
		RETURN pg_catalog.quote_literal(fuzz.pick(CASE kind
			WHEN 'cron' THEN fuzz.crons() WHEN 'zone' THEN fuzz.zones()
			WHEN 'time' THEN fuzz.times() WHEN 'interval' THEN fuzz.intervals()
			WHEN 'name' THEN fuzz.names() WHEN 'rights' THEN fuzz.rights()
			ELSE fuzz.names() || fuzz.crons() || fuzz.zones() || fuzz.numbers() END));
	ELSIF r < 0.62 AND kind = 'cron' THEN
		-- fields built from cron tokens, 0 to 8 of them, numbers of any size
		RETURN pg_catalog.quote_literal((SELECT COALESCE(pg_catalog.string_agg(fuzz.pick(ARRAY[
				'*', '*/' || fuzz.rnd(70), fuzz.rnd(70)::text, fuzz.rnd(70) || '-' || fuzz.rnd(70),
				fuzz.rnd(70) || '-' || fuzz.rnd(70) || '/' || fuzz.rnd(9), fuzz.pick(fuzz.numbers()),
				'mon', 'jan', 'SUN-SAT', 'L', '?', '#', ',', '1,2', '-', '/', '*/*', '**', '']),
				fuzz.pick(ARRAY[' ', ' ', ' ', E'\t', '  ', ','])), '')
			FROM pg_catalog.generate_series(1, fuzz.rnd(9))));
	ELSIF r < 0.8 THEN
		RETURN pg_catalog.quote_literal(fuzz.random_string(24));
	ELSIF r < 0.97 THEN
		RETURN pg_catalog.quote_literal(fuzz.random_string(200));
	ELSIF r < 0.998 THEN
		RETURN pg_catalog.format('pg_catalog.repeat(%L, %s)', fuzz.pick(ARRAY['a', '9', 'é', '🐴', '* ', 'ab%s']),
			fuzz.pick(ARRAY['255', '256', '1000', '4096', '65536']));
	ELSE
		RETURN pg_catalog.format('pg_catalog.repeat(%L, %s)', fuzz.pick(ARRAY['9', 'x', '* ']),
			fuzz.pick(ARRAY['1048576', '1048576', '4194304']));
	END IF;
END $$;

-- A JSON value of the given shape: tasks (enqueue_batch), schedules (register_schedules),
-- options (a schedule's or trigger_schedule's options), any.
CREATE FUNCTION fuzz.json_value(shape text, depth integer) RETURNS jsonb
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	r double precision := pg_catalog.random();
	o jsonb;
	k text;
	keys text[];
BEGIN
	IF shape = 'tasks' OR shape = 'schedules' THEN
		IF r < 0.1 THEN
			RETURN fuzz.json_value('any', depth + 1);
		END IF;
		RETURN (SELECT COALESCE(pg_catalog.jsonb_agg(fuzz.json_value(
					CASE shape WHEN 'tasks' THEN 'task' ELSE 'schedule' END, depth + 1)), '[]')
				FROM pg_catalog.generate_series(1, CASE WHEN r < 0.9 THEN fuzz.rnd(5) ELSE fuzz.rnd(40) END));
	ELSIF shape IN ('task', 'schedule', 'options') THEN
		IF r < 0.05 THEN
			RETURN fuzz.json_value('any', depth + 1);
		END IF;
		keys := CASE shape
			WHEN 'task' THEN ARRAY['operation_id', 'payload', 'priority', 'max_attempts', 'scheduled_at',
				'expires_at', 'task_group_id', 'idempotency_key', 'ephemeral', 'meta']
			WHEN 'schedule' THEN ARRAY['operation_id', 'cron', 'timezone', 'payload', 'options']
			ELSE ARRAY['priority', 'max_attempts', 'expires_in', 'task_group_id', 'idempotency_key',
				'ephemeral', 'meta', 'scheduled_at', 'expires_at', 'payload'] END;
		o := '{}';
		FOREACH k IN ARRAY keys LOOP
			IF pg_catalog.random() < (CASE WHEN k IN ('operation_id', 'cron') THEN 0.9 ELSE 0.35 END) THEN
				o := o || pg_catalog.jsonb_build_object(k, fuzz.json_field(k, depth + 1));
			END IF;
		END LOOP;
		IF pg_catalog.random() < 0.05 THEN
			o := o || pg_catalog.jsonb_build_object(fuzz.random_string(12), fuzz.json_value('any', depth + 1));
		END IF;
		RETURN o;
	END IF;
	-- any
	IF depth > 4 OR r < 0.45 THEN
		RETURN fuzz.json_scalar();
	ELSIF r < 0.7 THEN
		RETURN (SELECT COALESCE(pg_catalog.jsonb_object_agg(fuzz.pick(fuzz.names() || ARRAY['operation_id', 'cron']),
					fuzz.json_value('any', depth + 1)), '{}')
				FROM pg_catalog.generate_series(1, fuzz.rnd(5)));
	ELSE
		RETURN (SELECT COALESCE(pg_catalog.jsonb_agg(fuzz.json_value('any', depth + 1)), '[]')
				FROM pg_catalog.generate_series(1, fuzz.rnd(5)));
	END IF;
END $$;

CREATE FUNCTION fuzz.json_scalar() RETURNS jsonb
LANGUAGE plpgsql VOLATILE AS $$
DECLARE r double precision := pg_catalog.random();
BEGIN
	RETURN CASE
		WHEN r < 0.15 THEN 'null'::jsonb
		WHEN r < 0.25 THEN pg_catalog.to_jsonb(pg_catalog.random() < 0.5)
		WHEN r < 0.5 THEN fuzz.pick(fuzz.numbers())::jsonb
		WHEN r < 0.8 THEN pg_catalog.to_jsonb(fuzz.pick(fuzz.names() || fuzz.times() || fuzz.intervals()))
		ELSE pg_catalog.to_jsonb(fuzz.random_string(30)) END;
END $$;

-- A value for a known key of a task, schedule or options document: mostly of the right
-- type, sometimes of another.
CREATE FUNCTION fuzz.json_field(k text, depth integer) RETURNS jsonb
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
	IF pg_catalog.random() < 0.15 THEN
		RETURN fuzz.json_value('any', depth);
	END IF;
	RETURN CASE
		WHEN k IN ('priority', 'max_attempts') THEN fuzz.pick(fuzz.numbers())::jsonb
		WHEN k IN ('scheduled_at', 'expires_at') THEN pg_catalog.to_jsonb(fuzz.pick(fuzz.times()))
		WHEN k = 'expires_in' THEN pg_catalog.to_jsonb(fuzz.pick(fuzz.intervals()))
		WHEN k = 'cron' THEN pg_catalog.to_jsonb(fuzz.pick(fuzz.crons()))
		WHEN k = 'timezone' THEN pg_catalog.to_jsonb(fuzz.pick(fuzz.zones()))
		WHEN k = 'ephemeral' THEN pg_catalog.to_jsonb(pg_catalog.random() < 0.5)
		WHEN k = 'options' THEN fuzz.json_value('options', depth)
		WHEN k IN ('payload', 'meta') THEN fuzz.json_value('any', depth)
		ELSE pg_catalog.to_jsonb(fuzz.pick(fuzz.names())) END;
END $$;

-- An expression giving a JSON value of the given shape (as json_value), for a draw r in
-- [0.06, 1) (as text_expr).
CREATE FUNCTION fuzz.json_expr(shape text, r double precision) RETURNS text
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
	IF r < 0.985 THEN
		RETURN pg_catalog.quote_literal(fuzz.json_value(shape, 0)::text);
	ELSIF r < 0.997 THEN
		-- deep nesting, and documents that are large in one dimension
		IF pg_catalog.random() < 0.4 THEN
			RETURN pg_catalog.format(fuzz.pick(ARRAY[
				'(pg_catalog.repeat(''['', %1$s) || pg_catalog.repeat('']'', %1$s))',
				'(pg_catalog.repeat(''{"a":'', %1$s) || ''1'' || pg_catalog.repeat(''}'', %1$s))']),
				fuzz.pick(ARRAY['10', '100', '1000'])) || '::jsonb';
		END IF;
		RETURN pg_catalog.format(fuzz.pick(ARRAY[
			'(SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(''operation_id'', ''op'', ''payload'', g)) FROM pg_catalog.generate_series(1, %1$s) g)',
			'(SELECT pg_catalog.jsonb_object_agg(''k'' || g, g) FROM pg_catalog.generate_series(1, %1$s) g)',
			'pg_catalog.jsonb_build_object(''operation_id'', pg_catalog.repeat(''o'', %1$s), ''cron'', pg_catalog.repeat(''9'', %1$s))']),
			fuzz.pick(ARRAY['10', '1000', '10001']));
	ELSE
		RETURN pg_catalog.format('pg_catalog.jsonb_build_object(''operation_id'', ''op'', ''payload'', pg_catalog.repeat(''x'', %s))',
			fuzz.pick(ARRAY['1048576', '4194304']));
	END IF;
END $$;

-- The statement that calls fn with these argument expressions: CALL for a procedure, else a
-- SELECT counting the rows of its result (case_sql and probe_sql).
CREATE FUNCTION fuzz.call_sql(fn regprocedure, args text[]) RETURNS text
LANGUAGE sql STABLE AS $$
	SELECT CASE WHEN p.prokind = 'p' THEN 'CALL ' ELSE 'SELECT pg_catalog.count(*) FROM ' END
		|| pg_catalog.format('%I.%I(%s)', p.pronamespace::regnamespace, p.proname,
							 pg_catalog.array_to_string(args, ', '))
	FROM pg_catalog.pg_proc p WHERE p.oid = fn
$$;

-- An expression for one argument of type typ named pname. ref is the case's row number
-- among the in-flight tasks, so that a task id and a lease of one call can belong together.
CREATE FUNCTION fuzz.arg_expr(typ regtype, pname text, ref integer) RETURNS text
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	r double precision := pg_catalog.random();
	elem regtype;
	kind text;
BEGIN
	IF typ IN ('text'::regtype, 'name'::regtype, 'jsonb'::regtype, 'json'::regtype) THEN
		-- Text and JSON arguments draw again (the seeded sequence of draws stays as it was):
		-- 6 % of them are NULL.
		r := pg_catalog.random();
		IF r < 0.06 THEN
			RETURN 'NULL';
		ELSIF typ IN ('jsonb'::regtype, 'json'::regtype) THEN
			RETURN fuzz.json_expr(CASE WHEN pname IN ('tasks', 'schedules', 'options') THEN pname ELSE 'any' END, r);
		END IF;
		kind := CASE WHEN pname IN ('expr', 'cron') THEN 'cron'
					 WHEN pname = 'rights' THEN 'rights'
					 WHEN pname IN ('timezone', 'time_zone', 'tz') THEN 'zone'
					 WHEN pname LIKE '%name' OR pname LIKE '%_id' OR pname LIKE '%key' THEN 'name'
					 ELSE 'any' END;
		RETURN fuzz.text_expr(kind, r);
	ELSIF typ IN ('integer'::regtype, 'smallint'::regtype) THEN
		RETURN CASE WHEN r < 0.06 THEN 'NULL'
					WHEN r < 0.85 THEN fuzz.pick(ARRAY['0', '1', '-1', '2', '3', '5', '10', '99', '100', '101',
						'-100', '-101', '1000', '10000', '10001', '2147483647', '-2147483648'])
					ELSE (fuzz.rnd(2000000) - 1000000)::text END;
	ELSIF typ = 'bigint'::regtype THEN
		RETURN CASE WHEN r < 0.06 THEN 'NULL'
					WHEN r < 0.45 THEN pg_catalog.format(
						'COALESCE((SELECT t.id FROM taskmill.tasks t WHERE t.lease IS NOT NULL ORDER BY t.id OFFSET %s LIMIT 1), 0)', ref)
					WHEN r < 0.75 THEN (1 + fuzz.rnd(3000))::text
					ELSE fuzz.pick(ARRAY['0', '-1', '4294967296', '9223372036854775807', '-9223372036854775808']) END;
	ELSIF typ = 'uuid'::regtype THEN
		RETURN CASE WHEN r < 0.06 THEN 'NULL'
					WHEN r < 0.5 THEN pg_catalog.format(
						'(SELECT t.lease FROM taskmill.tasks t WHERE t.lease IS NOT NULL ORDER BY t.id OFFSET %s LIMIT 1)', ref)
					WHEN r < 0.6 THEN '''00000000-0000-0000-0000-000000000000'''
					ELSE pg_catalog.quote_literal(pg_catalog.md5(pg_catalog.random()::text)::uuid::text) END;
	ELSIF typ = 'regrole'::regtype THEN
		-- the fuzz tenant, the superuser, a built-in role, ids that name no role
		RETURN CASE WHEN r < 0.06 THEN 'NULL'
					WHEN r < 0.9 THEN pg_catalog.quote_literal(fuzz.pick(ARRAY['taskmill_fuzz_tenant',
						'postgres', 'pg_monitor', '-', '1', '4000000000']))
					ELSE pg_catalog.quote_literal(fuzz.random_string(20)) END;
	ELSIF typ = 'boolean'::regtype THEN
		RETURN fuzz.pick(ARRAY['NULL', 'true', 'false', 'false']);
	ELSIF typ = 'timestamp with time zone'::regtype THEN
		RETURN CASE WHEN r < 0.1 THEN 'NULL'
					WHEN r < 0.5 THEN pg_catalog.format('pg_catalog.now() + %L::interval',
						(fuzz.rnd(2000000) - 1000000) || ' seconds')
					ELSE pg_catalog.quote_literal(fuzz.pick(ARRAY['infinity', '-infinity',
						'294276-12-31 23:59:59+00', '4713-01-01 00:00:00+00 BC', '1970-01-01 00:00:00+00',
						'2026-03-08 02:30 America/New_York', '2026-11-01 01:30 America/New_York'])) END;
	ELSIF typ = 'interval'::regtype THEN
		RETURN CASE WHEN r < 0.1 THEN 'NULL'
					WHEN r < 0.5 THEN pg_catalog.quote_literal((fuzz.rnd(200000) - 1000) || ' milliseconds')
					ELSE pg_catalog.quote_literal(fuzz.pick(ARRAY['0', '1 second', '-1 second',
						'1 microsecond', '100 years', '178000000 years', '-178000000 years',
						'2147483647 days', '1 mon', '-1 mon 1 day', '2147483647 hours'])) END;
	END IF;
	elem := (SELECT t.typelem FROM pg_catalog.pg_type t WHERE t.oid = typ AND t.typcategory = 'A');
	IF elem IS NOT NULL AND elem <> 0 THEN
		IF r < 0.08 THEN
			RETURN 'NULL';
		ELSIF r < 0.13 THEN
			RETURN '''{}''';
		ELSIF r < 0.16 THEN
			-- two dimensions, and a lower bound other than 1
			RETURN pg_catalog.format(fuzz.pick(ARRAY['ARRAY[ARRAY[%1$s, %1$s], ARRAY[%1$s, %1$s]]',
				'(''[5:6]={NULL,NULL}''::%2$s)']), fuzz.arg_expr(elem, pname, ref), typ);
		ELSIF r < 0.95 THEN
			RETURN 'ARRAY[' || COALESCE((SELECT pg_catalog.string_agg(
						pg_catalog.format('(%s)::%s', fuzz.arg_expr(elem, pname, ref + g - 1), elem), ', ')
					FROM pg_catalog.generate_series(1, fuzz.rnd(6)) g), '') || ']::' || typ::text;
		ELSE
			-- longer arrays repeat one element expression: past the batch limits only rarely
			kind := fuzz.arg_expr(elem, pname, ref);
			RETURN pg_catalog.format('ARRAY(SELECT (%s)::%s FROM pg_catalog.generate_series(1, %s))', kind, elem,
				CASE WHEN kind LIKE '%repeat(%' OR kind LIKE '%generate_series(%' THEN '2'
					 WHEN pg_catalog.random() < 0.01 THEN '10001' ELSE (6 + fuzz.rnd(100))::text END);
		END IF;
	END IF;
	-- a type this driver does not know: NULL, or a string it may or may not parse
	RETURN CASE WHEN r < 0.5 THEN 'NULL' ELSE pg_catalog.quote_literal(fuzz.random_string(20)) END;
END $$;

-- The statement of case case_no of function fn.
CREATE FUNCTION fuzz.case_sql(fn regprocedure, case_no integer, seed integer) RETURNS text
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	p pg_catalog.pg_proc;
	args text[] := '{}';
	nargs integer;
	ref integer;
BEGIN
	PERFORM pg_catalog.setseed((pg_catalog.hashtext(fn::text || '#' || case_no || '#' || seed)::double precision)
							   / 2147483648.0);
	SELECT * INTO p FROM pg_catalog.pg_proc WHERE oid = fn;
	ref := fuzz.rnd(400);
	-- sometimes leave trailing arguments that have defaults out
	nargs := p.pronargs;
	IF p.pronargdefaults > 0 AND pg_catalog.random() < 0.25 THEN
		nargs := nargs - fuzz.rnd(p.pronargdefaults + 1);
	END IF;
	FOR i IN 0 .. nargs - 1 LOOP
		args := args || pg_catalog.format('(%s)::%s',
			fuzz.arg_expr(p.proargtypes[i]::regtype, COALESCE(p.proargnames[i + 1], ''), ref),
			p.proargtypes[i]::regtype);
	END LOOP;
	RETURN fuzz.call_sql(fn, args);
END $$;

-- Run one case, letting its error through (the suite's server-log pass).
CREATE FUNCTION fuzz.exec(fn regprocedure, case_no integer, seed integer) RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
	EXECUTE fuzz.case_sql(fn, case_no, seed);
END $$;

-- Keep the database the size setup.sql made it: drop what fuzzed calls put in other queues
-- (thousands of distinct queue names would make every call that scans queues slower and
-- slower), and refill the queue "fuzz" with in-flight tasks when acks and purges used them up.
-- Another fuzz session may hold row locks: give up after a moment rather than wait.
CREATE FUNCTION fuzz.reset() RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
	PERFORM pg_catalog.set_config('lock_timeout', '200ms', true);
	DELETE FROM taskmill.tasks WHERE queue_name <> 'fuzz';
	DELETE FROM taskmill.task_results WHERE queue_name <> 'fuzz';
	DELETE FROM taskmill.task_schedules WHERE queue_name <> 'fuzz';
	IF (SELECT pg_catalog.count(*) FROM taskmill.tasks WHERE queue_name = 'fuzz') > 2500 THEN
		PERFORM taskmill.purge('fuzz');
		PERFORM taskmill.purge_dlq('fuzz');
	END IF;
	IF (SELECT pg_catalog.count(*) FROM taskmill.tasks WHERE queue_name = 'fuzz' AND lease IS NOT NULL) < 200 THEN
		PERFORM taskmill.enqueue('fuzz', 'op', pg_catalog.jsonb_build_object('n', g), priority => g % 5,
			task_group_id => CASE WHEN g % 7 = 0 THEN 'g' || g % 3 END)
		FROM pg_catalog.generate_series(1, 600) g;
		PERFORM pg_catalog.count(*) FROM taskmill.dequeue('fuzz', 400, '1 day');
	END IF;
	IF (SELECT pg_catalog.count(*) FROM taskmill.task_results WHERE queue_name = 'fuzz') > 2000 THEN
		PERFORM taskmill.cleanup_results('fuzz');
	END IF;
	PERFORM pg_catalog.set_config('lock_timeout', '0', true);
EXCEPTION WHEN OTHERS THEN
	NULL;	-- lock_timeout, or a deadlock with the other session: next time
END $$;

CREATE PROCEDURE fuzz.run(fn regprocedure, cases integer, seed integer)
LANGUAGE plpgsql AS $$
DECLARE
	stmt text;
	state text;
	msg text;
	detail text;
	hint text;
	text_bytes integer;
	t0 timestamptz;
	ms double precision;
	slow_ms double precision := 0;
	slow_case integer := 0;
BEGIN
	FOR i IN 1 .. cases LOOP
		stmt := fuzz.case_sql(fn, i, seed);
		t0 := pg_catalog.clock_timestamp();
		BEGIN
			IF i % 8 = 0 THEN
				PERFORM pg_catalog.set_config('role', 'taskmill_fuzz_tenant', true);
			END IF;
			EXECUTE stmt;
			PERFORM pg_catalog.set_config('role', 'none', true);
			state := '00000';
			msg := NULL; detail := NULL; hint := NULL;
		EXCEPTION WHEN OTHERS THEN
			GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT,
				detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
		END;
		ms := EXTRACT(epoch FROM pg_catalog.clock_timestamp() - t0) * 1000;
		IF ms > slow_ms THEN
			slow_ms := ms;
			slow_case := i;
		END IF;
		text_bytes := COALESCE(pg_catalog.octet_length(msg), 0) + COALESCE(pg_catalog.octet_length(detail), 0)
					  + COALESCE(pg_catalog.octet_length(hint), 0);
		INSERT INTO fuzz.outcomes AS o VALUES (fn::text, state, 1, text_bytes, i, i, pg_catalog.left(msg, 200))
		ON CONFLICT ON CONSTRAINT outcomes_pkey DO UPDATE SET
			calls = o.calls + 1,
			max_text_bytes = GREATEST(o.max_text_bytes, excluded.max_text_bytes),
			max_text_case = CASE WHEN excluded.max_text_bytes > o.max_text_bytes THEN i ELSE o.max_text_case END;
		IF i % 100 = 0 THEN
			IF i % 500 = 0 THEN
				PERFORM fuzz.reset();
			END IF;
			COMMIT;
		END IF;
	END LOOP;
	INSERT INTO fuzz.slowest VALUES (fn::text, slow_case, slow_ms);
	PERFORM fuzz.reset();
	COMMIT;
END $$;

-- Oversized-input probes: the statement of case 1 of fn with argument argno replaced by a
-- value of about `bytes` bytes built on the server (a long string; JSON whose keys, or whose
-- string values, are that long; an array holding such a value). The suite runs each alone
-- and measures how much the server log grows: an error that quotes its whole input shows.
CREATE FUNCTION fuzz.probe_sql(fn regprocedure, argno integer, variant integer, bytes integer) RETURNS text
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	p pg_catalog.pg_proc;
	args text[] := '{}';
	typ regtype;
	elem regtype;
	big text := pg_catalog.format('pg_catalog.repeat(%L, %s)', CASE variant WHEN 1 THEN '9' WHEN 2 THEN '* ' ELSE 'x' END,
								  CASE variant WHEN 2 THEN bytes / 2 ELSE bytes END);
	huge text;
BEGIN
	PERFORM pg_catalog.setseed((pg_catalog.hashtext(fn::text || '#probe') :: double precision) / 2147483648.0);
	SELECT * INTO p FROM pg_catalog.pg_proc WHERE oid = fn;
	FOR i IN 0 .. p.pronargs - 1 LOOP
		typ := p.proargtypes[i]::regtype;
		IF i <> argno THEN
			args := args || pg_catalog.format('(%s)::%s', fuzz.arg_expr(typ, COALESCE(p.proargnames[i + 1], ''), 0), typ);
			CONTINUE;
		END IF;
		elem := (SELECT t.typelem FROM pg_catalog.pg_type t WHERE t.oid = typ AND t.typcategory = 'A');
		IF elem IS NOT NULL AND elem <> 0 THEN
			typ := elem;
		END IF;
		huge := CASE
			WHEN typ IN ('jsonb'::regtype, 'json'::regtype) THEN CASE variant
				WHEN 1 THEN pg_catalog.format('pg_catalog.jsonb_build_object(%s, 1)', big)
				WHEN 2 THEN pg_catalog.format('pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(''operation_id'', %1$s, ''cron'', %1$s, ''timezone'', %1$s, ''idempotency_key'', %1$s, ''task_group_id'', %1$s, ''scheduled_at'', %1$s, ''expires_in'', %1$s, ''priority'', %1$s, ''options'', pg_catalog.jsonb_build_object(''expires_in'', %1$s, %1$s, 1)))', big)
				ELSE pg_catalog.format('pg_catalog.jsonb_build_object(''operation_id'', %1$s, ''cron'', %1$s, ''timezone'', %1$s, ''idempotency_key'', %1$s, ''task_group_id'', %1$s, ''expires_at'', %1$s, ''max_attempts'', %1$s, ''expires_in'', %1$s, %1$s, 1)', big) END
			WHEN typ IN ('text'::regtype, 'name'::regtype) THEN big
			ELSE NULL END;
		IF huge IS NULL THEN
			RETURN NULL;		-- no oversized value of this type
		END IF;
		IF p.proargtypes[i]::regtype <> typ THEN
			huge := pg_catalog.format('ARRAY[%s]', huge);
		END IF;
		args := args || pg_catalog.format('(%s)::%s', huge, p.proargtypes[i]::regtype);
	END LOOP;
	RETURN fuzz.call_sql(fn, args);
END $$;

-- What must not change while the fuzzer runs: every object of the database (and the
-- cluster's roles, databases and tablespaces), its owner and privileges, columns, per-role
-- and per-database settings.
CREATE FUNCTION fuzz.catalog() RETURNS SETOF text
LANGUAGE plpgsql STABLE AS $$
DECLARE
	cat text;
BEGIN
	FOREACH cat IN ARRAY ARRAY['pg_class', 'pg_proc', 'pg_type', 'pg_namespace', 'pg_trigger',
		'pg_constraint', 'pg_operator', 'pg_cast', 'pg_rewrite', 'pg_policy', 'pg_event_trigger',
		'pg_extension', 'pg_language', 'pg_default_acl', 'pg_publication', 'pg_foreign_server',
		'pg_foreign_data_wrapper', 'pg_collation', 'pg_conversion', 'pg_opclass', 'pg_opfamily',
		'pg_am', 'pg_statistic_ext', 'pg_ts_config', 'pg_ts_dict', 'pg_largeobject_metadata',
		'pg_authid', 'pg_database', 'pg_tablespace', 'pg_attrdef', 'pg_transform', 'pg_user_mapping', 'pg_subscription'] LOOP
		RETURN QUERY EXECUTE pg_catalog.format(
			'SELECT %1$L || '' '' || pg_catalog.pg_describe_object(%1$L::regclass, x.oid, 0) FROM pg_catalog.%1$I x',
			cat);
	END LOOP;
	RETURN QUERY SELECT 'acl ' || c.oid::regclass::text || ' ' || c.relowner::regrole::text || ' ' || COALESCE(c.relacl::text, '')
		FROM pg_catalog.pg_class c;
	RETURN QUERY SELECT 'acl ' || p.oid::regprocedure::text || ' ' || p.proowner::regrole::text || ' '
			|| COALESCE(p.proacl::text, '') || ' ' || p.prosecdef || ' ' || COALESCE(p.proconfig::text, '')
		FROM pg_catalog.pg_proc p;
	RETURN QUERY SELECT 'acl ' || n.nspname || ' ' || n.nspowner::regrole::text || ' ' || COALESCE(n.nspacl::text, '')
		FROM pg_catalog.pg_namespace n;
	RETURN QUERY SELECT 'acl database ' || d.datname || ' ' || COALESCE(d.datacl::text, '') FROM pg_catalog.pg_database d;
	RETURN QUERY SELECT 'role ' || r.rolname || ' ' || r.rolsuper || r.rolinherit || r.rolcreaterole || r.rolcreatedb
			|| r.rolcanlogin || r.rolreplication || r.rolbypassrls || ' ' || COALESCE(r.rolconfig::text, '')
		FROM pg_catalog.pg_roles r;
	RETURN QUERY SELECT 'member ' || m.roleid::regrole::text || ' ' || m.member::regrole::text FROM pg_catalog.pg_auth_members m;
	RETURN QUERY SELECT 'setting ' || s.setdatabase || ' ' || s.setrole || ' ' || s.setconfig::text FROM pg_catalog.pg_db_role_setting s;
	RETURN QUERY SELECT 'column ' || a.attrelid::regclass::text || '.' || a.attname || ' ' || a.atttypid::regtype::text
			|| ' ' || a.attnotnull || ' ' || COALESCE(a.attacl::text, '')
		FROM pg_catalog.pg_attribute a WHERE a.attnum > 0 AND NOT a.attisdropped;
END $$;

-- The functions still to fuzz; each session of the suite takes the next one until none is
-- left, so that the sessions finish together however the functions' costs differ.
CREATE TABLE fuzz.todo (
	fn		regprocedure PRIMARY KEY,
	taken	boolean NOT NULL DEFAULT false
);

CREATE PROCEDURE fuzz.work(cases integer, seed integer)
LANGUAGE plpgsql AS $$
DECLARE
	next regprocedure;
	t0 timestamptz;
BEGIN
	LOOP
		SELECT t.fn INTO next FROM fuzz.todo t WHERE NOT t.taken ORDER BY t.fn LIMIT 1 FOR UPDATE SKIP LOCKED;
		EXIT WHEN next IS NULL;
		UPDATE fuzz.todo SET taken = true WHERE fn = next;
		COMMIT;
		t0 := pg_catalog.clock_timestamp();
		CALL fuzz.run(next, cases, seed);
		RAISE NOTICE '% cases of % in % s', cases, next,
			pg_catalog.round(EXTRACT(epoch FROM pg_catalog.clock_timestamp() - t0)::numeric, 1);
		next := NULL;
	END LOOP;
END $$;

-- The size of the server log that scripts/pg-cluster.sh starts the server with (pg_ctl -l
-- DIR/server.log, next to the data directory DIR/data).
CREATE FUNCTION fuzz.log_size() RETURNS bigint
LANGUAGE sql VOLATILE AS $$
	SELECT (pg_catalog.pg_stat_file(pg_catalog.current_setting('data_directory') || '/../server.log')).size
$$;
