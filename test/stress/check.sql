-- After a stress run: each completed task was delivered once, each group completed in
-- order (completed_at, the ack's transaction time, follows id: the next task of a group
-- is delivered only after the previous one's ack committed), and what is left of each
-- group comes after everything completed of it. Tasks scheduled for later and never
-- delivered take no part in their group's order yet (docs/sql-api.md, dequeue): they are
-- counted apart, not as left over. Prints one line; "ok" or the failures.
SELECT CASE WHEN redelivered = 0 AND out_of_order = 0 AND overtaken = 0
	THEN format('ok: %s completed, %s left, in order, each delivered once%s', done, left_over,
				CASE WHEN later > 0 THEN format(' (%s scheduled for later)', later) ELSE '' END)
	ELSE format('FAIL: %s completed, %s redelivered, %s out of order, %s left behind a completed later task',
				done, redelivered, out_of_order, overtaken) END
FROM (SELECT
	(SELECT count(*) FROM taskmill.task_results WHERE queue_name = 'stress') AS done,
	(SELECT count(*) FROM taskmill.tasks WHERE queue_name = 'stress'
		AND (visible_at <= now() OR attempts > 0)) AS left_over,
	(SELECT count(*) FROM taskmill.tasks WHERE queue_name = 'stress'
		AND visible_at > now() AND attempts = 0) AS later,
	(SELECT count(*) FROM taskmill.task_results WHERE queue_name = 'stress' AND attempts <> 1) AS redelivered,
	(SELECT count(*) FROM (
		SELECT id, lag(id) OVER (PARTITION BY task_group_id ORDER BY completed_at, id) AS prev
		FROM taskmill.task_results WHERE queue_name = 'stress') s WHERE prev > id) AS out_of_order,
	(SELECT count(*) FROM taskmill.tasks t WHERE t.queue_name = 'stress'
		AND (t.visible_at <= now() OR t.attempts > 0) AND EXISTS (
		SELECT 1 FROM taskmill.task_results r
		WHERE r.queue_name = 'stress' AND r.task_group_id = t.task_group_id AND r.id > t.id)) AS overtaken
) c;
