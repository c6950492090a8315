-- Issue 10 finding 7: interference from outside the grant. A role with CONNECT only (no
-- right on any queue) must find nothing to block, learn or burn: the FIFO group lock and
-- the idle-waiter lock are outside the user advisory key spaces and keyed by the install
-- secret; NOTIFY goes to a per-queue channel named by a keyed hash, with no payload, and
-- only wait_begin / listen (consume right) name it; ids are drawn after the rights check.
-- Sessions: this one (superuser, SET ROLE for the CONNECT-only role) and w1, w2 (dblink).
-- Runs outside a transaction (the producer must commit); removes what it made.
\ir helpers.psql
SELECT plan(12);

CREATE ROLE tm_sec_iso_nobody LOGIN;

-- Ids: nothing drawn before the check (a role with USAGE alone burnt 100k ids a call).
SELECT last_value AS seq_before FROM taskmill.tasks_id_seq \gset
SET ROLE tm_sec_iso_nobody;
SELECT throws_ok($$SELECT taskmill.enqueue_arrays('sec-iso', array_fill('op'::text, ARRAY[100000]))$$,
	'42501', 'permission denied for queue "sec-iso": produce right required',
	'Security.Sequence_NoBurn: enqueue_arrays without the produce right is refused');
SELECT throws_ok($$SELECT nextval('taskmill.tasks_id_seq')$$, '42501', NULL,
	'Security.Sequence_NoBurn: the id sequence is not granted');
-- Waiting and listening need the consume right.
SELECT throws_ok($$SELECT taskmill.wait_begin('sec-iso')$$, '42501',
	'permission denied for queue "sec-iso": consume right required',
	'Security.WaitBegin_NoRight: wait_begin (which makes every enqueue NOTIFY) is refused');
SELECT throws_ok($$SELECT taskmill.listen('sec-iso')$$, '42501', NULL,
	'Security.Listen_NoRight: the queue''s channel is not handed out');
-- The group lock and the secret are the owner's.
SELECT throws_ok($$SELECT taskmill.try_group_lock('sec-fifo', 'g1')$$, '42501', NULL,
	'Security.GroupLock_NoRight: try_group_lock is executable by the extension owner only');
SELECT throws_ok($$SELECT * FROM taskmill.install_secret$$, '42501', NULL,
	'Security.Secret: the install secret is readable by the owner only');
RESET ROLE;
SELECT is((SELECT last_value FROM taskmill.tasks_id_seq), :seq_before::bigint,
	'Security.Sequence_NoBurn: no id was drawn');

-- FIFO: the CONNECT-only role holds the public key 0.1 used for the group; dequeue still
-- delivers the group's head.
SELECT dblink_connect('w1', format('host=127.0.0.1 port=%s user=tm_sec_iso_nobody dbname=%s options=''-c statement_timeout=60s''',
	current_setting('port'), current_database()));
SELECT dblink_connect('w2', format('host=127.0.0.1 port=%s user=postgres dbname=%s options=''-c statement_timeout=60s''',
	current_setting('port'), current_database()));
SELECT * FROM dblink('w1', $$SELECT pg_advisory_lock(hashtext('sec-fifo'), hashtext('g1'))::text$$) AS t(x text);
SELECT taskmill.enqueue('sec-fifo', 'step', task_group_id => 'g1') AS fifo_head \gset
SELECT taskmill.enqueue('sec-fifo', 'step', task_group_id => 'g1');
SELECT is((SELECT array_agg(id) FROM taskmill.dequeue('sec-fifo', 10, '1 minute', 'g1')), ARRAY[:fifo_head::bigint],
	'Security.FifoKey_NotBlockable: a role holding the 0.1 advisory key does not block the group');
-- The locks a dequeue of group g2 holds, seen inside its own transaction.
CREATE FUNCTION tm_test.group_locks_of_dequeue() RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
	PERFORM * FROM taskmill.dequeue('sec-fifo', 1, '1 minute', 'g2');
	RETURN (SELECT count(*) FROM pg_locks l
		WHERE l.locktype = 'advisory' AND l.objsubid = 21575 AND l.pid = pg_backend_pid()
		  AND l.classid::bigint <> (hashtext('sec-fifo')::bigint & 4294967295)
		  AND l.objid::bigint <> (hashtext('g2')::bigint & 4294967295));
END $$;
SELECT taskmill.enqueue('sec-fifo', 'step', task_group_id => 'g2');
SELECT is(tm_test.group_locks_of_dequeue(), 1::bigint,
	'Security.FifoKey_Keyed: the group lock is taskmill''s own kind (objsubid 21575), not a hash anyone can compute');
SELECT * FROM dblink('w1', $$SELECT pg_advisory_unlock_all()::text$$) AS t(x text);

-- NOTIFY: LISTEN taskmill (0.1's channel, which carried queue names) hears nothing of an
-- enqueue, and the queue's channel is a keyed hash without payload.
SELECT dblink_exec('w1', 'LISTEN taskmill');
SELECT * FROM dblink('w2', $$SELECT taskmill.enqueue('sec-ntf', 'op', notify => true)::text$$) AS t(x text);
SELECT dblink_exec('w2', $$NOTIFY taskmill, 'sec-marker'$$);
CREATE TABLE tm_test.notes (k serial, channel text, payload text);
DO $$
DECLARE
	deadline timestamptz := clock_timestamp() + interval '60 seconds';
BEGIN
	WHILE NOT EXISTS (SELECT 1 FROM tm_test.notes WHERE payload = 'sec-marker') LOOP
		IF clock_timestamp() > deadline THEN
			RAISE EXCEPTION 'marker notification not received within 60 s';
		END IF;
		INSERT INTO tm_test.notes (channel, payload) SELECT notify_name, extra FROM dblink_get_notify('w1');
		PERFORM pg_sleep(0.01);
	END LOOP;
END $$;
SELECT is((SELECT array_agg(payload ORDER BY k) FROM tm_test.notes), ARRAY['sec-marker'],
	'Security.Notify_NoQueueNames: LISTEN taskmill learns no queue name from an enqueue');
SELECT matches(taskmill.listen('sec-ntf'), '^taskmill_[0-9a-f]{32}$',
	'Security.Notify_Channel: a queue''s channel is taskmill_ and 32 hex digits of a keyed hash');
SELECT isnt(taskmill.listen('sec-ntf'), 'taskmill_' || left(md5('sec-ntf'), 32),
	'Security.Notify_Channel: not an unkeyed hash of the name');

SELECT dblink_disconnect('w1');
SELECT dblink_disconnect('w2');
SELECT taskmill.purge(q) FROM unnest(ARRAY['sec-ntf', 'sec-fifo', 'sec-iso']) q;
UNLISTEN *;
DROP ROLE tm_sec_iso_nobody;
DROP SCHEMA tm_test CASCADE;
SELECT * FROM finish();
