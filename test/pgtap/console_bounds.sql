-- The console's bounds: a console read stops at taskmill.console_statement_timeout (a lock
-- it waits behind cannot hold a dashboard's connection for good) and leaves the caller's
-- own statement timeout as it was; taskmill.xmin_holders names what holds vacuum back, a
-- writer idle in its transaction included (it holds a transaction id, no snapshot), and
-- never the backend that reads it. Second sessions through dblink.
-- (Not helpers.psql: its functions' bodies lock the tables, one of which the locker below takes.)
BEGIN;
SET client_min_messages = warning;
CREATE SCHEMA tm_test;
SELECT plan(10);

CREATE FUNCTION tm_test.other(name text) RETURNS text LANGUAGE sql AS $$
	SELECT dblink_connect(name, format('host=127.0.0.1 port=%s user=postgres dbname=%s application_name=%s',
		current_setting('port'), current_database(), name))
$$;

-- A holder of the view, by the pid of its backend.
CREATE FUNCTION tm_test.holder(pid int) RETURNS SETOF taskmill.xmin_holders LANGUAGE sql AS $$
	SELECT h.* FROM taskmill.xmin_holders h
	WHERE h.kind = 'backend' AND split_part(h.holder, ' ', 1) = pid::text
$$;

-- ---- console_statement_timeout ------------------------------------------------------------

-- The reads run in a second session (a statement timeout is a cancel, which no PL/pgSQL
-- handler catches); the locker takes tasks (list_results' own result type would wait for
-- task_results before the function starts, outside its limit).
SELECT tm_test.other('con_locker');
SELECT dblink_exec('con_locker', 'BEGIN');
SELECT dblink_exec('con_locker', 'LOCK TABLE taskmill.tasks IN ACCESS EXCLUSIVE MODE');
SELECT tm_test.other('con_console');
SELECT dblink_exec('con_console', 'SET taskmill.console_statement_timeout = ''50ms''');

-- The error of sql run in the console session ('' when it succeeds).
CREATE FUNCTION tm_test.console_error(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	IF dblink_exec('con_console', format('DO $d$ BEGIN PERFORM count(*) FROM (%s) s; END $d$', sql),
				   false) = 'ERROR' THEN
		RETURN dblink_error_message('con_console');
	END IF;
	RETURN '';
END $$;
SELECT alike(tm_test.console_error($$SELECT * FROM taskmill.queue_stats('con-q')$$),
	'%canceling statement due to statement timeout%',
	'TestConsole_Timeout_QueueStats: a read that waits behind a lock stops at console_statement_timeout');
SELECT alike(tm_test.console_error($$SELECT * FROM taskmill.list_queues()$$),
	'%canceling statement due to statement timeout%',
	'TestConsole_Timeout_ListQueues: so does list_queues');
-- list_results reads task_results only; its limit is put back when it returns, so the rest
-- of the statement (longer than the limit) runs on.
SELECT is(tm_test.console_error(
		$$SELECT r.id, pg_sleep(0.2) FROM (SELECT 1) o LEFT JOIN taskmill.list_results('con-q') r ON true$$), '',
	'TestConsole_Timeout_Restored: after a console read the statement runs under its own timeout again');
SELECT dblink_exec('con_locker', 'ROLLBACK');
SELECT dblink_disconnect('con_locker');
SELECT dblink_exec('con_console', 'SET taskmill.console_statement_timeout = 0');
SELECT is(tm_test.console_error($$SELECT * FROM taskmill.queue_stats('con-q')$$), '',
	'TestConsole_Timeout_Zero: 0 sets no limit of its own');
SELECT dblink_disconnect('con_console');

-- ---- xmin_holders -------------------------------------------------------------------------

-- A writer idle in its transaction: a transaction id, no snapshot (read committed, between
-- statements). A reader with a snapshot open (repeatable read).
SELECT tm_test.other('con_writer');
SELECT dblink_exec('con_writer', 'BEGIN');
SELECT * FROM dblink('con_writer', 'SELECT pg_current_xact_id()::text') AS x(xid text);
SELECT pid AS writer_pid FROM dblink('con_writer', 'SELECT pg_backend_pid()') AS x(pid int) \gset
SELECT tm_test.other('con_reader');
SELECT dblink_exec('con_reader', 'BEGIN ISOLATION LEVEL REPEATABLE READ');
SELECT * FROM dblink('con_reader', 'SELECT 1') AS x(one int);
SELECT pid AS reader_pid FROM dblink('con_reader', 'SELECT pg_backend_pid()') AS x(pid int) \gset

-- pg_stat_activity is read once per transaction unless cleared
SELECT pg_stat_clear_snapshot();
SELECT results_eq(format($$SELECT xid_age IS NOT NULL, xmin_age >= xid_age, idle_in_transaction IS NOT NULL,
		holder LIKE '%%con_writer (idle in transaction)' FROM tm_test.holder(%s)$$, :writer_pid),
	$$VALUES (true, true, true, true)$$,
	'TestConsole_XminHolders_IdleWriter: a writer idle in its transaction is listed with its transaction id''s age and how long it idles');
SELECT results_eq(format($$SELECT xid_age IS NULL, xmin_age IS NOT NULL FROM tm_test.holder(%s)$$, :reader_pid),
	$$VALUES (true, true)$$,
	'TestConsole_XminHolders_Snapshot: a reader''s snapshot is listed, with no transaction id');
SELECT ok(pg_current_xact_id_if_assigned() IS NOT NULL,
	'TestConsole_XminHolders_Observer: (this session holds a transaction id and a snapshot)');
SELECT is_empty(format('SELECT * FROM tm_test.holder(%s)', pg_backend_pid()),
	'TestConsole_XminHolders_Observer: the backend reading the view is never listed');
SELECT ok((SELECT oldest_xmin_age FROM taskmill.health) >=
		  (SELECT xid_age FROM tm_test.holder(:writer_pid)),
	'TestConsole_XminHolders_Health: health''s oldest xmin age counts the idle writer');

-- Once the writer commits it holds nothing.
SELECT dblink_exec('con_writer', 'COMMIT');
SELECT pg_stat_clear_snapshot();
SELECT is_empty(format('SELECT * FROM tm_test.holder(%s)', :writer_pid),
	'TestConsole_XminHolders_Committed: a writer that committed is gone from the list');
SELECT dblink_exec('con_reader', 'COMMIT');
SELECT dblink_disconnect('con_writer');
SELECT dblink_disconnect('con_reader');

SELECT * FROM finish();
ROLLBACK;
