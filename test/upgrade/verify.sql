-- After ALTER EXTENSION UPDATE: nothing was lost (every row and column snapshot.sql copied
-- is still there, sequences where they were), and the updated queue works on the tasks
-- fill-*.sql left in every state, with the API of the version being built.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

-- The extension is at the version being built.
DO $$
DECLARE installed text; wanted text;
BEGIN
	SELECT e.extversion INTO installed FROM pg_catalog.pg_extension e WHERE e.extname = 'taskmill';
	SELECT a.default_version INTO wanted FROM pg_catalog.pg_available_extensions a WHERE a.name = 'taskmill';
	IF installed IS DISTINCT FROM wanted THEN
		RAISE EXCEPTION 'taskmill is at version % after the update, not %', installed, wanted;
	END IF;
END $$;

-- Every row, in every column the table had before the update (an update may add columns;
-- the update to 0.3 stops 0.1's schedules, see below).
DO $$
DECLARE t text; cols text; n bigint; sample text;
BEGIN
	FOREACH t IN ARRAY ARRAY['tasks', 'task_results', 'task_schedules'] LOOP
		SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO cols
		FROM pg_catalog.pg_attribute a
		WHERE a.attrelid = pg_catalog.format('upgrade_check.%I', t)::regclass
		  AND a.attnum > 0 AND NOT a.attisdropped
		  -- a 0.1 schedule (no owner column then) is stopped by the update to 0.3: checked below
		  AND NOT (t = 'task_schedules' AND a.attname IN ('next_run_at', 'last_error', 'updated_at')
				   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute o
								   WHERE o.attrelid = a.attrelid AND o.attname = 'owner'));
		EXECUTE pg_catalog.format(
			'SELECT pg_catalog.count(*), pg_catalog.string_agg(d::text, E''\n'')
			 FROM ((SELECT ''lost'' AS what, %1$s FROM upgrade_check.%2$I
					EXCEPT ALL SELECT ''lost'', %1$s FROM taskmill.%2$I)
				   UNION ALL
				   (SELECT ''new'', %1$s FROM taskmill.%2$I
					EXCEPT ALL SELECT ''new'', %1$s FROM upgrade_check.%2$I)) d', cols, t)
		INTO n, sample;
		IF n <> 0 THEN
			RAISE EXCEPTION 'taskmill.% changed in the update: % rows differ', t, n
				USING DETAIL = sample;
		END IF;
	END LOOP;
END $$;

DO $$
DECLARE bad text;
BEGIN
	SELECT pg_catalog.string_agg(pg_catalog.format('%s: %s before, %s after', b.sequencename,
												   b.last_value, a.last_value), '; ') INTO bad
	FROM upgrade_check.sequences b
	LEFT JOIN pg_catalog.pg_sequences a ON a.schemaname = 'taskmill' AND a.sequencename = b.sequencename
	WHERE a.last_value IS DISTINCT FROM b.last_value;
	IF bad IS NOT NULL THEN
		RAISE EXCEPTION 'sequences moved in the update: %', bad;
	END IF;
END $$;

-- Leases handed out before the update still ack; the updated ack moves them to results.
DO $$
DECLARE r record;
BEGIN
	FOR r IN SELECT * FROM upgrade_check.tasks
			 WHERE queue_name IN ('up_flight', 'up_fifo') AND lease IS NOT NULL LOOP
		IF NOT taskmill.ack(r.id, r.lease, '{"acked": "after the update"}') THEN
			RAISE EXCEPTION 'the lease of task % (queue %) from before the update did not ack', r.id, r.queue_name;
		END IF;
	END LOOP;
	ASSERT (SELECT pg_catalog.count(*) FROM taskmill.task_results
			WHERE result = '{"acked": "after the update"}') = 3, 'acked deliveries are in task_results';
END $$;

-- Every available task is delivered once, priority first, and acks.
DO $$
DECLARE r record; n int := 0; first_op text;
BEGIN
	FOR r IN SELECT * FROM taskmill.dequeue('up_avail', 100, '1 minute') LOOP
		n := n + 1;
		IF n = 1 THEN first_op := r.operation_id; END IF;
		ASSERT taskmill.ack(r.id, r.lease), 'ack of up_avail task ' || r.id;
	END LOOP;
	ASSERT n = 18, 'up_avail delivered ' || n || ' of 18';
	ASSERT first_op = 'urgent', 'up_avail delivered ' || first_op || ' first, not the priority 50 task';
	ASSERT (SELECT pg_catalog.count(*) FROM taskmill.task_results WHERE queue_name = 'up_avail') = 17,
		'every non-ephemeral up_avail task has a result';
	FOR r IN SELECT * FROM taskmill.dequeue('up_flight', 10, '1 minute') LOOP
		n := n + 1;
		ASSERT taskmill.ack(r.id, r.lease);
	END LOOP;
	ASSERT n = 19, 'the up_flight task left available was delivered';
END $$;

-- FIFO: with g1's head acked, each group delivers its tasks one at a time, in order.
DO $$
DECLARE r record; got text := ''; round int := 0;
BEGIN
	LOOP
		round := round + 1;
		EXIT WHEN round > 10;
		FOR r IN SELECT * FROM taskmill.dequeue('up_fifo', 10, '1 minute') ORDER BY task_group_id LOOP
			got := got || (r.payload->>'g') || '.' || (r.payload->>'step') || ' ';
			ASSERT taskmill.ack(r.id, r.lease);
		END LOOP;
		got := got || '| ';
	END LOOP;
	ASSERT got LIKE 'g1.2 g2.1 | g1.3 g2.2 | | %', 'FIFO deliveries after the update: ' || got;
END $$;

-- Expired tasks go to the DLQ at the first dequeue; DLQ tasks requeue and deliver.
DO $$
DECLARE r record; n int := 0;
BEGIN
	ASSERT NOT EXISTS (SELECT 1 FROM taskmill.dequeue('up_expired', 10, '1 minute')), 'expired tasks delivered';
	ASSERT (SELECT pg_catalog.count(*) FROM taskmill.tasks
			WHERE queue_name = 'up_expired' AND dlq_reason = 'expired') = 2, 'expired tasks dead-lettered';
	FOR r IN SELECT * FROM taskmill.tasks WHERE queue_name = 'up_dlq' LOOP
		PERFORM taskmill.requeue_from_dlq(r.id);
	END LOOP;
	FOR r IN SELECT * FROM taskmill.dequeue('up_dlq', 10, '1 minute') LOOP
		n := n + 1;
		ASSERT taskmill.ack(r.id, r.lease);
	END LOOP;
	ASSERT n = 2, 'requeued DLQ tasks delivered: ' || n;
END $$;

-- Waiting tasks wait; keys are still unique; new ids continue after the old ones.
DO $$
DECLARE s record; new_id bigint;
BEGIN
	SELECT * INTO s FROM taskmill.queue_stats('up_retry');
	ASSERT (s.retrying, s.total) = (2, 2), 'up_retry ' || s::text;
	SELECT * INTO s FROM taskmill.queue_stats('up_later');
	ASSERT (s.scheduled, s.total) = (3, 3), 'up_later ' || s::text;
	BEGIN
		PERFORM taskmill.enqueue('up_keys', 'keyed', '{}', idempotency_key => 'key-1');
		RAISE EXCEPTION 'a second task with idempotency key key-1 was accepted after the update';
	EXCEPTION WHEN unique_violation THEN
		NULL;
	END;
	new_id := taskmill.enqueue('up_keys', 'keyed', '{}', idempotency_key => 'key-4');
	ASSERT new_id > (SELECT pg_catalog.max(id) FROM upgrade_check.tasks), 'new task id ' || new_id || ' reuses an old one';
END $$;

-- Schedules registered before the update run and re-register. A schedule made under 0.1
-- (the snapshot's table has no owner column) got its owner from the update to 0.2, the
-- role that ran it: the update to 0.3 stops it (next_run_at NULL) until a manager of its
-- queue registers it again.
DO $$
DECLARE new_task bigint; before timestamptz; from_0_1 boolean; ran int;
BEGIN
	SELECT NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
		WHERE a.attrelid = 'upgrade_check.task_schedules'::regclass AND a.attname = 'owner')
	INTO from_0_1;
	IF from_0_1 THEN
		ASSERT (SELECT pg_catalog.count(*) FROM taskmill.task_schedules s
				WHERE s.queue_name = 'up_sched' AND s.next_run_at IS NULL
				  AND s.last_error LIKE 'paused by the update to 0.3%') = 2,
			'the 0.1 schedules are stopped by the update';
		ran := taskmill.run_due_schedules();
		ASSERT (SELECT pg_catalog.count(*) FROM taskmill.task_schedules s
				WHERE s.queue_name = 'up_sched' AND s.next_run_at IS NULL) = 2,
			'a stopped schedule does not run';
	END IF;
	SELECT s.next_run_at INTO before FROM taskmill.task_schedules s WHERE s.operation_id = 'nightly';
	new_task := taskmill.trigger_schedule('nightly', queue_name => 'up_sched');
	ASSERT (SELECT t.priority FROM taskmill.tasks t WHERE t.id = new_task) = 10,
		'the triggered task has the schedule''s priority';
	PERFORM taskmill.run_due_schedules();
	ASSERT taskmill.register_schedules('up_sched', $j$[
	  {"operation_id": "nightly", "cron": "0 3 * * *", "timezone": "Europe/London",
	   "payload": {"report": "daily"}, "options": {"priority": 10, "expires_in": "2 hours"}}
	]$j$) = 1;
	IF from_0_1 THEN
		ASSERT (SELECT s.next_run_at > pg_catalog.now() AND s.owner = current_user
				FROM taskmill.task_schedules s WHERE s.operation_id = 'nightly'),
			'registered again, a stopped schedule runs again, owned by the registering role';
	ELSE
		ASSERT (SELECT s.next_run_at FROM taskmill.task_schedules s WHERE s.operation_id = 'nightly') = before,
			're-registering an unchanged schedule kept its next run';
	END IF;
	ASSERT (SELECT pg_catalog.count(*) FROM taskmill.task_schedules WHERE queue_name = 'up_sched') = 1;
END $$;

-- Table privileges granted before the update (fill-*.sql) are gone: queue rights replace
-- them. The view's grant is kept (views are granted to monitoring roles on purpose), then
-- taken back here so that the schema compares equal with a fresh install's.
DO $$
DECLARE left_over text;
BEGIN
	SELECT pg_catalog.string_agg(pg_catalog.format('%s %s%s', g.rel, g.col, g.acl), ', ') INTO left_over
	FROM (SELECT c.oid::pg_catalog.regclass::text AS rel, '' AS col, x::text AS acl, c.relowner, x
		  FROM pg_catalog.pg_class c, LATERAL pg_catalog.unnest(c.relacl) x
		  WHERE c.relnamespace = 'taskmill'::pg_catalog.regnamespace AND c.relkind IN ('r', 'p', 'S')
		  UNION ALL
		  SELECT c.oid::pg_catalog.regclass::text, a.attname || ': ', x::text, c.relowner, x
		  FROM pg_catalog.pg_class c
		  JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid, LATERAL pg_catalog.unnest(a.attacl) x
		  WHERE c.relnamespace = 'taskmill'::pg_catalog.regnamespace AND c.relkind IN ('r', 'p', 'S')) g
	WHERE (SELECT e.grantee FROM pg_catalog.aclexplode(ARRAY[g.x]) e LIMIT 1) <> g.relowner;
	IF left_over IS NOT NULL THEN
		RAISE EXCEPTION 'table privileges survived the update: %', left_over;
	END IF;
	ASSERT pg_catalog.has_table_privilege('up_table_monitor', 'taskmill.health', 'SELECT'),
		'the grant on the view taskmill.health was kept';
END $$;
REVOKE SELECT ON taskmill.health FROM up_table_monitor;
