-- The schedule functions' SQL surface: signatures, the task_schedules table, and every
-- error of register_schedules and trigger_schedule.
\i test/regress/sql/include/setup.psql

SELECT p.proname, pg_catalog.pg_get_function_arguments(p.oid) AS arguments,
       pg_catalog.pg_get_function_result(p.oid) AS result,
       p.prolang = (SELECT oid FROM pg_language WHERE lanname = 'c') AS is_c,
       p.proisstrict AS strict, p.provolatile AS volatility, p.proparallel AS parallel
FROM pg_catalog.pg_proc p
WHERE p.pronamespace = 'taskmill'::regnamespace
  AND p.proname IN ('cron_next', 'cron_validate', 'register_schedules', 'list_schedules',
                    'trigger_schedule', 'run_due_schedules')
ORDER BY p.proname;

SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull
FROM pg_catalog.pg_attribute a
WHERE a.attrelid = 'taskmill.task_schedules'::regclass AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum;

SELECT conname, pg_catalog.pg_get_constraintdef(oid) AS definition
FROM pg_catalog.pg_constraint WHERE conrelid = 'taskmill.task_schedules'::regclass
  AND contype <> 'n'  -- NOT NULLs: attnotnull above (18 also lists them here)
ORDER BY conname;

-- kept by pg_dump
SELECT c.relname FROM pg_catalog.pg_extension e, unnest(e.extconfig) AS cfg(oid)
JOIN pg_catalog.pg_class c ON c.oid = cfg.oid
WHERE e.extname = 'taskmill' AND c.relname LIKE 'task_schedules%' ORDER BY 1;

-- register_schedules: all or nothing, so one bad entry leaves the queue as it was.
SELECT taskmill.register_schedules('regress', '[{"operation_id": "keep", "cron": "@daily"}]');

SELECT input, pg_temp.err(format('SELECT taskmill.register_schedules(%s)', input)) AS error
FROM (VALUES
	($$NULL, '[]'$$),
	($$'', '[]'$$),
	($$repeat('q', 256), '[]'$$),
	($$'regress', NULL$$),
	($$'regress', '{}'$$),
	($$'regress', '"x"'$$),
	($$'regress', '[1]'$$),
	($$'regress', '[[]]'$$),
	($$'regress', '[{"cron": "* * * * *"}]'$$),
	($$'regress', '[{"operation_id": "a"}]'$$),
	($$'regress', '[{"operation_id": "", "cron": "* * * * *"}]'$$),
	($$'regress', '[{"operation_id": 7, "cron": "* * * * *"}]'$$),
	($$'regress', '[{"operation_id": "a", "cron": null}]'$$),
	($$'regress', '[{"operation_id": "a", "cron": "* * * * *", "crontab": "x"}]'$$),
	($$'regress', '[{"operation_id": "a", "cron": "* * * * *"}, {"operation_id": "a", "cron": "@daily"}]'$$),
	($$'regress', '[{"operation_id": "ok", "cron": "* * * * *"}, {"operation_id": "a", "cron": "60 * * * *"}]'$$),
	($$'regress', '[{"operation_id": "a", "cron": "* * *"}]'$$),
	($$'regress', '[{"operation_id": "a", "cron": "0 0 30 2 *"}]'$$),
	($$'regress', '[{"operation_id": "a", "cron": "* * * * *", "timezone": "Nowhere/Special"}]'$$),
	($$'regress', '[{"operation_id": "a", "cron": "* * * * *", "timezone": 1}]'$$),
	($$'regress', '[{"operation_id": "a", "cron": "* * * * *", "options": []}]'$$),
	($$'regress', '[{"operation_id": "a", "cron": "* * * * *", "options": {"priorty": 1}}]'$$),
	($$'regress', '[{"operation_id": "a", "cron": "* * * * *", "options": {"priority": 101}}]'$$),
	($$'regress', '[{"operation_id": "a", "cron": "* * * * *", "options": {"priority": 1.5}}]'$$),
	($$'regress', '[{"operation_id": "a", "cron": "* * * * *", "options": {"priority": "high"}}]'$$),
	($$'regress', '[{"operation_id": "a", "cron": "* * * * *", "options": {"max_attempts": 0}}]'$$),
	($$'regress', '[{"operation_id": "a", "cron": "* * * * *", "options": {"max_attempts": 1e30}}]'$$),
	($$'regress', '[{"operation_id": "a", "cron": "* * * * *", "options": {"task_group_id": ""}}]'$$),
	($$'regress', '[{"operation_id": "a", "cron": "* * * * *", "options": {"task_group_id": 5}}]'$$),
	($$'regress', '[{"operation_id": "a", "cron": "* * * * *", "options": {"expires_in": "soon"}}]'$$),
	($$'regress', '[{"operation_id": "a", "cron": "* * * * *", "options": {"expires_in": "-5 minutes"}}]'$$),
	($$'regress', '[{"operation_id": "a", "cron": "* * * * *", "options": {"expires_in": 0}}]'$$),
	($$'regress', '[{"operation_id": "a", "cron": "* * * * *", "options": {"expires_in": true}}]'$$),
	($$'regress', '[{"operation_id": "a", "cron": "* * * * *", "options": {"ephemeral": "yes"}}]'$$),
	($$'regress', '[{"operation_id": "a", "cron": "* * * * *", "options": {"meta": [1]}}]'$$)
) AS t(input);

SELECT queue_name, operation_id, cron FROM taskmill.list_schedules('regress');

-- Accepted option forms (JSON null means "the default").
SELECT taskmill.register_schedules('regress', $$[
	{"operation_id": "all-options", "cron": "0 3 * * *", "timezone": "Europe/Paris",
	 "payload": {"report": "daily"},
	 "options": {"priority": -100, "max_attempts": 10, "task_group_id": "g1",
	             "expires_in": "PT30M", "ephemeral": true, "meta": {"source": "cron"}}},
	{"operation_id": "seconds", "cron": "@hourly", "options": {"expires_in": 90.5}},
	{"operation_id": "nulls", "cron": "@hourly", "timezone": null, "payload": null,
	 "options": {"priority": null, "meta": null}}
]$$);
SELECT operation_id, cron, timezone, payload, options FROM taskmill.list_schedules('regress');

-- trigger_schedule errors
SELECT pg_temp.err($$SELECT taskmill.trigger_schedule('no-such-schedule')$$);
SELECT pg_temp.err($$SELECT taskmill.trigger_schedule(NULL)$$);
SELECT pg_temp.err($$SELECT taskmill.trigger_schedule('nulls', '[]')$$);
SELECT pg_temp.err($$SELECT taskmill.trigger_schedule('nulls', '{"priority": 500}')$$);
SELECT pg_temp.err($$SELECT taskmill.trigger_schedule('nulls', queue_name => 'other')$$);
SELECT taskmill.register_schedules('regress-2', '[{"operation_id": "nulls", "cron": "@daily"}]');
SELECT pg_temp.err($$SELECT taskmill.trigger_schedule('nulls')$$);

-- Clean up: an empty list removes the queue's schedules.
SELECT taskmill.register_schedules('regress', '[]'), taskmill.register_schedules('regress-2', '[]');
SELECT count(*) FROM taskmill.task_schedules;
