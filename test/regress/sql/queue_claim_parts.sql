-- The parts of a claim statement (extension/dequeue.c): probes of tasks_waiting_idx,
-- tasks_leased_idx and tasks_group_idx decide which scans the statement has, and whether it
-- judges FIFO groups. What a claim leaves out because its probe found nothing must be found
-- by the next claim that needs it, in the usual order.
\i test/regress/sql/include/setup.psql

-- ready tasks only
SELECT count(taskmill.enqueue('reg_parts', 'r' || i)) FROM generate_series(1, 3) i;
-- r1's visibility timeout passes at once: the next claim redelivers it before r2 (lower id)
SELECT operation_id, attempts FROM taskmill.dequeue('reg_parts', 1, '0 seconds');
SELECT operation_id, attempts FROM taskmill.dequeue('reg_parts', 1, '1 hour');
-- r2 waits for a retry; once due (visible_at moved back) it is claimed with r3, by priority
SELECT taskmill.nack(id, lease, 'again', interval '1 hour') FROM taskmill.dequeue('reg_parts', 1, '1 hour');
SELECT operation_id, waiting FROM taskmill.tasks WHERE queue_name = 'reg_parts' AND lease IS NULL ORDER BY id;
UPDATE taskmill.tasks SET visible_at = now() - interval '1 second', priority = 5
WHERE queue_name = 'reg_parts' AND operation_id = 'r2';
SELECT operation_id, attempts, waiting FROM taskmill.dequeue('reg_parts', 5, '1 hour') ORDER BY priority DESC, id;
-- grouped tasks join the queue: the group's head only, one in flight; the ungrouped task too
SELECT count(taskmill.enqueue('reg_parts', 'g' || i, task_group_id => 'grp')) FROM generate_series(1, 2) i;
SELECT count(taskmill.enqueue('reg_parts', 'u4'));
SELECT operation_id FROM taskmill.dequeue('reg_parts', 10, '1 hour') ORDER BY id;
SELECT count(*) AS nothing_more FROM taskmill.dequeue('reg_parts', 10, '1 hour');
-- the head done, the next one follows
SELECT taskmill.ack(id, lease) FROM taskmill.tasks WHERE queue_name = 'reg_parts' AND operation_id = 'g1';
SELECT operation_id FROM taskmill.dequeue('reg_parts', 10, '1 hour') ORDER BY id;
DELETE FROM taskmill.tasks WHERE queue_name = 'reg_parts';
