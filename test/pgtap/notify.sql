-- NOTIFY only when someone waits (issue 5): enqueue's notify => NULL (the default) sends
-- a NOTIFY on the queue's channel at commit only if a session holds the queue's idle-waiter
-- lock (taskmill.wait_begin); notify => true always notifies, false never. The channel is
-- "taskmill_" and a keyed hash of the queue name, with no payload (docs/security.md);
-- wait_begin and taskmill.listen LISTEN on it.
-- Producer and waiter are real sessions (dblink): w1 LISTENs (and waits), w2 enqueues and
-- commits. Notifications reach w1 in commit order, so after each step w2 sends a marker
-- NOTIFY (channel taskmill) and the test collects w1's notifications up to that marker,
-- naming each by the queue whose channel it came on: deterministic, no sleeps. Runs
-- outside a transaction (the producer must commit); removes what it made.
\ir helpers.psql
SELECT plan(18);

SELECT dblink_connect('w1', format('host=127.0.0.1 port=%s user=postgres dbname=%s options=''-c statement_timeout=60s''',
	current_setting('port'), current_database()));
SELECT dblink_connect('w2', format('host=127.0.0.1 port=%s user=postgres dbname=%s options=''-c statement_timeout=60s''',
	current_setting('port'), current_database()));
SELECT dblink_exec('w1', 'LISTEN taskmill');
-- the queues' channels, to name the notifications by (listen also LISTENs here: harmless)
CREATE TABLE tm_test.channels AS
	SELECT q AS queue, taskmill.listen(q) AS channel FROM unnest(ARRAY['ntf-a', 'ntf-b']) q;
SELECT * FROM dblink('w1', $$SELECT taskmill.listen('ntf-a'), taskmill.listen('ntf-b')$$) AS t(a text, b text);

-- Run $1 on w2, then NOTIFY a marker from w2; return what w1 received before the marker,
-- in order, as text[]: the queue of a queue's channel, else channel:payload.
CREATE FUNCTION tm_test.notes_after(sql text) RETURNS text[] LANGUAGE plpgsql AS $$
DECLARE
	marker text := 'marker-' || pg_catalog.gen_random_uuid();
	got text[] := '{}';
	n record;
	deadline timestamptz := clock_timestamp() + interval '60 seconds';
BEGIN
	-- dblink, not dblink_exec: the statement may return rows (one text column is read)
	PERFORM * FROM dblink('w2', sql) AS t(x text);
	PERFORM dblink_exec('w2', format('NOTIFY taskmill, %L', marker));
	LOOP
		FOR n IN SELECT notify_name, extra FROM dblink_get_notify('w1') LOOP
			IF n.extra = marker THEN
				RETURN got;
			END IF;
			got := got || coalesce((SELECT c.queue FROM tm_test.channels c WHERE c.channel = n.notify_name),
								   n.notify_name || ':' || n.extra);
		END LOOP;
		IF clock_timestamp() > deadline THEN
			RAISE EXCEPTION 'marker notification not received within 60 s';
		END IF;
		PERFORM pg_sleep(0.01);
	END LOOP;
END $$;

-- w1's answer to one boolean query.
CREATE FUNCTION tm_test.w1_bool(sql text) RETURNS boolean LANGUAGE sql AS $$
	SELECT b FROM dblink('w1', sql) AS t(b boolean)
$$;

SELECT is(tm_test.notes_after($$SELECT taskmill.enqueue('ntf-a', 'op')$$), '{}'::text[],
	'Notify.Auto_NoWaiter: no notification when nobody waits on the queue');
SELECT is(tm_test.notes_after($$SELECT taskmill.enqueue_batch('ntf-a', '[{"operation_id": "x"}]')$$), '{}'::text[],
	'Notify.Auto_NoWaiter: enqueue_batch neither');

SELECT is(tm_test.w1_bool($$SELECT taskmill.wait_begin('ntf-a')$$), true,
	'Notify.WaitBegin: takes the idle-waiter lock');
SELECT is(tm_test.w1_bool($$SELECT taskmill.wait_begin('ntf-a')$$), false,
	'Notify.WaitBegin: a second call changes nothing');
SELECT ok(EXISTS (SELECT 1 FROM pg_locks l
		WHERE l.locktype = 'advisory' AND l.objsubid = 21581 AND l.mode = 'ShareLock' AND l.granted
		  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())),
	'Notify.WaitBegin: pg_locks shows the waiter (advisory, objsubid 21581, ShareLock)');

SELECT is(tm_test.notes_after($$BEGIN;
		SELECT taskmill.enqueue('ntf-a', 'op') FROM generate_series(1, 3);
		SELECT taskmill.enqueue_batch('ntf-a', '[{"operation_id": "x"}, {"operation_id": "y"}]');
		SELECT taskmill.enqueue('ntf-b', 'op');
		COMMIT$$), ARRAY['ntf-a'],
	'Notify.Auto_Waiter: one notification per waited-on queue per transaction, none for the other');
SELECT is(tm_test.notes_after($$SELECT taskmill.enqueue_batch('ntf-a', '[{"operation_id": "x"}]')$$), ARRAY['ntf-a'],
	'Notify.Auto_Waiter: enqueue_batch notifies a waiter');
SELECT is(tm_test.notes_after($$BEGIN; SELECT taskmill.enqueue('ntf-a', 'op'); ROLLBACK$$), '{}'::text[],
	'Notify.Auto_Rollback: a rolled-back enqueue notifies nobody');
SELECT is(tm_test.notes_after($$BEGIN; SELECT 1; COMMIT$$), '{}'::text[],
	'Notify.Auto_Rollback: nothing left pending for the next transaction');
SELECT is(tm_test.notes_after($$BEGIN; SAVEPOINT s; SELECT taskmill.enqueue('ntf-a', 'op');
		ROLLBACK TO SAVEPOINT s; COMMIT$$), '{}'::text[],
	'Notify.Auto_Subtransaction: an enqueue in a rolled-back savepoint notifies nobody');
SELECT is(tm_test.notes_after($$BEGIN; SAVEPOINT s; SELECT taskmill.enqueue('ntf-a', 'op');
		RELEASE SAVEPOINT s; COMMIT$$), ARRAY['ntf-a'],
	'Notify.Auto_Subtransaction: an enqueue in a released savepoint notifies at commit');
SELECT is(tm_test.notes_after($$SELECT taskmill.enqueue('ntf-a', 'op', notify => false)$$), '{}'::text[],
	'Notify.False: notify => false never notifies, even with a waiter');
SELECT is(tm_test.notes_after($$SELECT taskmill.enqueue('ntf-b', 'op', notify => true)$$), ARRAY['ntf-b'],
	'Notify.True: notify => true notifies without a waiter');
SELECT is(tm_test.notes_after($$SELECT taskmill.enqueue_batch('ntf-b', '[{"operation_id": "x"}]', notify => true)$$),
	ARRAY['ntf-b'], 'Notify.True: enqueue_batch too');

SELECT is(tm_test.w1_bool($$SELECT taskmill.wait_end('ntf-a')$$), true,
	'Notify.WaitEnd: releases the idle-waiter lock');
SELECT is(tm_test.w1_bool($$SELECT taskmill.wait_end('ntf-a')$$), false,
	'Notify.WaitEnd: false when not waiting');
SELECT is(tm_test.notes_after($$SELECT taskmill.enqueue('ntf-a', 'op')$$), '{}'::text[],
	'Notify.WaitEnd: no notification once the waiter left');

SELECT throws_ok($$SELECT taskmill.wait_begin(NULL)$$, '22004', NULL,
	'Notify.WaitBegin: a NULL queue name is rejected');

SELECT dblink_disconnect('w1');
SELECT dblink_disconnect('w2');
SELECT taskmill.purge(q) FROM unnest(ARRAY['ntf-a', 'ntf-b']) q;
DROP SCHEMA tm_test CASCADE;
SELECT * FROM finish();
