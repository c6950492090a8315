-- Queue contents for the fuzzer to work on (test/suites/sql_fuzz.sh): available, scheduled,
-- FIFO-grouped and in-flight tasks in the queue "fuzz" (one of the names the driver picks
-- most), results, a schedule. The in-flight tasks' ids and leases are what the driver's
-- task id and lease arguments refer to.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SELECT pg_catalog.count(*) FROM (
	SELECT taskmill.enqueue('fuzz', 'op', pg_catalog.jsonb_build_object('n', g), priority => g % 5,
		task_group_id => CASE WHEN g % 7 = 0 THEN 'g' || g % 3 END,
		scheduled_at => CASE WHEN g % 11 = 0 THEN pg_catalog.now() + interval '1 day' END)
	FROM pg_catalog.generate_series(1, 1200) g) e;
SELECT pg_catalog.count(*) FROM taskmill.dequeue('fuzz', 500, '1 day');
SELECT taskmill.register_schedules('fuzz', '[{"operation_id": "nightly", "cron": "0 3 * * *"},
	{"operation_id": "hourly", "cron": "@hourly", "options": {"priority": 5}}]');

-- A tenant with every right on the queue "fuzz" and none elsewhere: one case in eight runs
-- as it (driver.sql, fuzz.run), so that the rights checks and the switch to the extension
-- owner are fuzzed too. (The task id and lease arguments read taskmill.tasks, which is not
-- granted to it: those calls fail there.)
DO $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'taskmill_fuzz_tenant') THEN
		CREATE ROLE taskmill_fuzz_tenant;
	END IF;
END $$;
SELECT taskmill.grant('taskmill_fuzz_tenant', 'fuzz', ARRAY['produce', 'consume', 'manage']);
