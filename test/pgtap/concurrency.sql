-- Races between real sessions (seed 6.1, 6.2 and 7), driven through dblink: several
-- connections run the same statement at once, released together by an advisory-lock gate.
-- The data must be committed for the other sessions to see it, so this file runs outside a
-- transaction, uses its own queue names and removes what it made at the end.
-- The two-session interleavings are pinned step by step in test/isolation/specs/*.spec.
\ir helpers.psql
SELECT plan(21);

-- Connections w1..wN to this database; a statement that hangs fails after a minute instead.
CREATE FUNCTION tm_test.connect(n int) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	FOR i IN 1..n LOOP
		PERFORM dblink_connect('w' || i, format(
			'host=127.0.0.1 port=%s user=postgres dbname=%s options=''-c statement_timeout=60s''',
			current_setting('port'), current_database()));
	END LOOP;
END $$;
CREATE FUNCTION tm_test.disconnect(n int) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	FOR i IN 1..n LOOP
		PERFORM dblink_disconnect('w' || i);
	END LOOP;
END $$;

-- The gate: the test holds advisory lock 7377 exclusively; every racer waits for it, shared,
-- so all of them start the moment the test lets go.
CREATE FUNCTION tm_test.gate() RETURNS void LANGUAGE sql AS $$
	SELECT pg_advisory_lock_shared(7377), pg_advisory_unlock_shared(7377)
$$;
CREATE FUNCTION tm_test.at_gate() RETURNS bigint LANGUAGE sql AS $$
	SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database
	WHERE l.locktype = 'advisory' AND l.classid = 0 AND l.objid = 7377 AND NOT l.granted
	AND d.datname = current_database()
$$;
-- Wait (up to 60 s) until n sessions queue at the gate, then open it.
CREATE FUNCTION tm_test.open_gate(n int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	deadline timestamptz := clock_timestamp() + interval '60 seconds';
BEGIN
	WHILE tm_test.at_gate() < n LOOP
		IF clock_timestamp() > deadline THEN
			RAISE EXCEPTION 'only % of % sessions reached the gate', tm_test.at_gate(), n;
		END IF;
		PERFORM pg_sleep(0.01);
	END LOOP;
	PERFORM pg_advisory_unlock(7377);
END $$;
-- Run stmt after the gate; its single value as text, or the SQLSTATE it raised.
CREATE FUNCTION tm_test.race(stmt text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	v text;
BEGIN
	PERFORM tm_test.gate();
	EXECUTE stmt INTO v;
	RETURN coalesce(v, 'null');
EXCEPTION WHEN OTHERS THEN
	RETURN 'error ' || SQLSTATE;
END $$;
-- Send the same statement (%s replaced by the worker number) on w1..wn, run them through
-- the gate together and collect one text value per worker.
CREATE TABLE tm_test.outcomes (race text, worker int, v text);
CREATE FUNCTION tm_test.run_race(race text, n int, stmt text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_advisory_lock(7377);
	FOR i IN 1..n LOOP
		PERFORM dblink_send_query('w' || i, format('SELECT tm_test.race(%L)', replace(stmt, '%s', i::text)));
	END LOOP;
	PERFORM tm_test.open_gate(n);
	FOR i IN 1..n LOOP
		INSERT INTO tm_test.outcomes SELECT race, i, r.v FROM dblink_get_result('w' || i) AS r(v text);
		PERFORM * FROM dblink_get_result('w' || i) AS r(v text);
	END LOOP;
END $$;

SELECT tm_test.connect(10);

-- TestRace_ConcurrentEnqueue_SameKey: 10 sessions enqueue the same key at once.
SELECT tm_test.run_race('same-key', 10,
	$$SELECT taskmill.enqueue('race-key', 'op', jsonb_build_object('worker', %s), idempotency_key => 'the-key')::text$$);
SELECT is((SELECT count(*) FROM tm_test.outcomes WHERE race = 'same-key' AND v ~ '^[0-9]+$'), 1::bigint,
	'TestRace_ConcurrentEnqueue_SameKey: exactly 1 of 10 sessions succeeds');
SELECT is((SELECT count(*) FROM tm_test.outcomes WHERE race = 'same-key' AND v = 'error 23505'), 9::bigint,
	'TestRace_ConcurrentEnqueue_SameKey: the other 9 fail with unique_violation (23505)');
SELECT is((SELECT count(*) FROM taskmill.tasks WHERE queue_name = 'race-key'), 1::bigint,
	'TestRace_ConcurrentEnqueue_SameKey: exactly one task in the queue');
SELECT is((SELECT (payload->>'worker')::int FROM taskmill.tasks WHERE queue_name = 'race-key'),
	(SELECT worker FROM tm_test.outcomes WHERE race = 'same-key' AND v ~ '^[0-9]+$'),
	'TestRace_ConcurrentEnqueue_SameKey: the stored task is the winner''s');

-- Two (here ten) sessions racing for one task: exactly one gets it.
SELECT taskmill.enqueue('race-one', 'op');
SELECT tm_test.run_race('one-task', 10, $$SELECT count(*)::text FROM taskmill.dequeue('race-one')$$);
SELECT results_eq($$SELECT v, count(*) FROM tm_test.outcomes WHERE race = 'one-task' GROUP BY v ORDER BY v$$,
	$$VALUES ('0'::text, 9::bigint), ('1', 1)$$, 'TestRace_ConcurrentDequeue: of 10 sessions racing for one task exactly one gets it');
SELECT is((SELECT attempts FROM taskmill.tasks WHERE queue_name = 'race-one'), 1,
	'TestRace_ConcurrentDequeue: the task was delivered once (attempts 1)');

-- TestConcurrency_SkipLocked: 3 sessions, each in an open transaction, take up to 4 of 10
-- tasks at the same moment; none waits for another and the sets are disjoint.
SELECT taskmill.enqueue('race-skip', 'op') FROM generate_series(1, 10);
SELECT dblink_exec('w' || i, 'BEGIN') FROM generate_series(1, 3) i;
SELECT tm_test.run_race('skip', 3,
	$$SELECT string_agg(id::text, ',' ORDER BY id) FROM taskmill.dequeue('race-skip', batch_size => 4)$$);
CREATE TABLE tm_test.skip_got AS
SELECT worker, unnest(string_to_array(v, ','))::bigint AS id FROM tm_test.outcomes WHERE race = 'skip' AND v <> 'null';
SELECT is((SELECT count(*) FROM tm_test.skip_got), 10::bigint,
	'TestConcurrency_SkipLocked: all 10 tasks taken by 3 concurrent transactions');
SELECT is((SELECT count(DISTINCT id) FROM tm_test.skip_got), 10::bigint,
	'TestConcurrency_SkipLocked: no task taken by two of them');
SELECT is((SELECT max(c) FROM (SELECT count(*) AS c FROM tm_test.skip_got GROUP BY worker) x), 4::bigint,
	'TestConcurrency_SkipLocked: none took more than its batch of 4');
SELECT dblink_exec('w' || i, 'COMMIT') FROM generate_series(1, 3) i;
SELECT is((SELECT count(*) FROM taskmill.tasks WHERE queue_name = 'race-skip' AND attempts = 1), 10::bigint,
	'TestConcurrency_SkipLocked: after commit every task was delivered exactly once');

-- TestConcurrency_MultipleWorkers_SameQueue: 10 sessions drain 100 tasks, committing each
-- dequeue and each ack like real workers. Every task is delivered exactly once.
CREATE TABLE tm_test.deliveries (queue text, task_id bigint, worker int, seq bigserial,
	in_flight_in_group bigint);
CREATE PROCEDURE tm_test.drain(queue text, worker int, batch int, grp_check boolean) LANGUAGE plpgsql AS $$
DECLARE
	t record;
	got int;
	deadline timestamptz := clock_timestamp() + interval '50 seconds';
BEGIN
	PERFORM tm_test.gate();
	LOOP
		got := 0;
		FOR t IN SELECT id, lease, task_group_id FROM taskmill.dequeue(queue, batch_size => batch,
				visibility_timeout => interval '10 minutes') LOOP
			got := got + 1;
			INSERT INTO tm_test.deliveries (queue, task_id, worker) VALUES (queue, t.id, worker);
		END LOOP;
		COMMIT;
		-- With the deliveries committed, check who else of the group is in flight, then ack.
		FOR t IN SELECT d.task_id, k.lease, k.task_group_id FROM tm_test.deliveries d
				JOIN taskmill.tasks k ON k.id = d.task_id
				WHERE d.queue = drain.queue AND d.worker = drain.worker AND k.lease IS NOT NULL LOOP
			IF grp_check THEN
				UPDATE tm_test.deliveries SET in_flight_in_group = (SELECT count(*) FROM taskmill.tasks x
					WHERE x.queue_name = drain.queue AND x.task_group_id = t.task_group_id AND x.dlq_at IS NULL
					AND x.lease IS NOT NULL AND x.visible_at > now())
				WHERE task_id = t.task_id;
			END IF;
			PERFORM taskmill.ack(t.task_id, t.lease);
			COMMIT;
		END LOOP;
		EXIT WHEN NOT EXISTS (SELECT 1 FROM taskmill.tasks WHERE queue_name = queue) OR clock_timestamp() > deadline;
		IF got = 0 THEN
			PERFORM pg_sleep(0.002);
		END IF;
	END LOOP;
END $$;
-- Run tm_test.drain on w1..wn through the gate and wait for all of them.
CREATE FUNCTION tm_test.run_drain(queue text, n int, batch int, grp_check boolean) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	errors text := '';
BEGIN
	PERFORM pg_advisory_lock(7377);
	FOR i IN 1..n LOOP
		PERFORM dblink_send_query('w' || i, format('CALL tm_test.drain(%L, %s, %s, %L)', queue, i, batch, grp_check));
	END LOOP;
	PERFORM tm_test.open_gate(n);
	FOR i IN 1..n LOOP
		PERFORM * FROM dblink_get_result('w' || i, false) AS r(v text);
		IF dblink_error_message('w' || i) <> 'OK' THEN
			errors := errors || dblink_error_message('w' || i);
		END IF;
		PERFORM * FROM dblink_get_result('w' || i, false) AS r(v text);
	END LOOP;
	RETURN errors;
END $$;

SELECT taskmill.enqueue('race-drain', 'op', jsonb_build_object('i', i)) FROM generate_series(1, 100) i;
SELECT is(tm_test.run_drain('race-drain', 10, 1, false), '',
	'TestConcurrency_MultipleWorkers_SameQueue: 10 workers ran without error');
SELECT results_eq($$SELECT count(*), count(DISTINCT task_id) FROM tm_test.deliveries WHERE queue = 'race-drain'$$,
	$$VALUES (100::bigint, 100::bigint)$$, 'TestConcurrency_MultipleWorkers_SameQueue: 100 deliveries of 100 distinct tasks');
SELECT results_eq($$SELECT count(*), max(attempts) FROM taskmill.task_results WHERE queue_name = 'race-drain'$$,
	$$VALUES (100::bigint, 1)$$, 'TestConcurrency_MultipleWorkers_SameQueue: all 100 completed, each on its first attempt');

-- TestRace_ConcurrentDequeue: 50 tasks, 10 workers taking batches of 3.
SELECT taskmill.enqueue('race-batch', 'op') FROM generate_series(1, 50);
SELECT is(tm_test.run_drain('race-batch', 10, 3, false), '', 'TestRace_ConcurrentDequeue: 10 workers ran without error');
SELECT results_eq($$SELECT count(*), count(DISTINCT task_id) FROM tm_test.deliveries WHERE queue = 'race-batch'$$,
	$$VALUES (50::bigint, 50::bigint)$$, 'TestRace_ConcurrentDequeue: each of 50 tasks processed exactly once');

-- TestFIFO_AdvisoryLock_Serialization: 5 workers on one group of 20 and a second group of 5;
-- a group never has two tasks in flight, and each group comes out in order.
SELECT taskmill.enqueue('race-fifo', 'op', task_group_id => CASE WHEN i <= 20 THEN 'group-a' ELSE 'group-b' END)
FROM generate_series(1, 25) i;
SELECT is(tm_test.run_drain('race-fifo', 5, 2, true), '', 'TestFIFO_AdvisoryLock_Serialization: 5 workers ran without error');
SELECT results_eq($$SELECT count(*), count(DISTINCT task_id) FROM tm_test.deliveries WHERE queue = 'race-fifo'$$,
	$$VALUES (25::bigint, 25::bigint)$$, 'TestFIFO_AdvisoryLock_Serialization: every task delivered exactly once');
SELECT is((SELECT max(in_flight_in_group) FROM tm_test.deliveries WHERE queue = 'race-fifo'), 1::bigint,
	'TestFIFO_AdvisoryLock_Serialization: never two tasks of a group in flight');
SELECT is((SELECT count(*) FROM (SELECT r.task_group_id, d.task_id,
		row_number() OVER (PARTITION BY r.task_group_id ORDER BY d.seq) AS by_delivery,
		row_number() OVER (PARTITION BY r.task_group_id ORDER BY d.task_id) AS by_id
	FROM tm_test.deliveries d JOIN taskmill.task_results r ON r.id = d.task_id WHERE d.queue = 'race-fifo') x
	WHERE by_delivery <> by_id), 0::bigint,
	'TestFIFO_AdvisoryLock_Serialization: each group delivered in enqueue order');

-- NOTIFY: one notification per queue per transaction, on the queue's channel (issue 2 item
-- 4; the channel is a keyed hash of the queue name, docs/security.md). w1 listens and waits
-- on both queues (taskmill.wait_begin LISTENs on their channels): enqueues notify only then.
SELECT dblink_exec('w1', 'LISTEN taskmill');
SELECT * FROM dblink('w1', $$SELECT taskmill.wait_begin('race-notify-a'), taskmill.wait_begin('race-notify-b')$$)
	AS t(a boolean, b boolean);
SELECT dblink_exec('w2', $$BEGIN; SELECT taskmill.enqueue('race-notify-a', 'op') FROM generate_series(1, 3);
	SELECT taskmill.enqueue_batch('race-notify-b', '[{"operation_id": "x"}, {"operation_id": "y"}]'); COMMIT$$);
SELECT dblink_exec('w2', $$NOTIFY taskmill, 'race-notify-end'$$);
CREATE TABLE tm_test.notes (k serial, channel text, payload text);
DO $$
DECLARE
	deadline timestamptz := clock_timestamp() + interval '60 seconds';
BEGIN
	WHILE NOT EXISTS (SELECT 1 FROM tm_test.notes WHERE payload = 'race-notify-end') LOOP
		IF clock_timestamp() > deadline THEN
			RAISE EXCEPTION 'no notification within 60 s';
		END IF;
		INSERT INTO tm_test.notes (channel, payload) SELECT notify_name, extra FROM dblink_get_notify('w1');
		PERFORM pg_sleep(0.01);
	END LOOP;
END $$;
SELECT results_eq($$SELECT channel, payload FROM tm_test.notes ORDER BY k$$,
	$$VALUES (taskmill.listen('race-notify-a'), ''::text), (taskmill.listen('race-notify-b'), ''),
		('taskmill', 'race-notify-end')$$,
	'Enqueue.Notify: one NOTIFY per queue per transaction, on the queue''s channel, no payload');

SELECT tm_test.disconnect(10);

-- Clean up what this file committed.
SELECT taskmill.purge(q), taskmill.purge_dlq(q), taskmill.cleanup_results(q, now() + interval '1 day')
FROM unnest(ARRAY['race-key', 'race-one', 'race-skip', 'race-drain', 'race-batch', 'race-fifo',
	'race-notify-a', 'race-notify-b']) q;
DROP SCHEMA tm_test CASCADE;
SELECT is((SELECT count(*) FROM taskmill.tasks WHERE queue_name LIKE 'race-%')
	+ (SELECT count(*) FROM taskmill.task_results WHERE queue_name LIKE 'race-%'), 0::bigint,
	'concurrency.sql: cleaned up after itself');

SELECT * FROM finish();
