-- Before ALTER EXTENSION UPDATE: copy every row of the extension's tables and the position
-- of its sequences into the schema upgrade_check, for verify.sql to compare after it.
\set ON_ERROR_STOP 1
CREATE SCHEMA upgrade_check;
CREATE TABLE upgrade_check.tasks AS SELECT * FROM taskmill.tasks;
CREATE TABLE upgrade_check.task_results AS SELECT * FROM taskmill.task_results;
CREATE TABLE upgrade_check.task_schedules AS SELECT * FROM taskmill.task_schedules;
CREATE TABLE upgrade_check.sequences AS
	SELECT s.sequencename, s.last_value FROM pg_catalog.pg_sequences s
	WHERE s.schemaname = 'taskmill';
