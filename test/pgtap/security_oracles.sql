-- Oracles: what a role may learn about other roles' rights and other queues' tasks.
--   * has_queue_right answered any role about any other role's rights, although
--     queue_grants is the owner's: it now answers about another role only to a member of
--     that role, a superuser or the extension owner, or a manager of the queue asked about;
--     anyone else gets 42501.
--   * requeue_from_dlq told "no such task" (P0002) from "a task of a queue you do not
--     manage" (42501): any role could learn which task ids exist. Both are now one answer
--     (P0002, one message and hint), whether the task is in the DLQ or not.
BEGIN;
\ir helpers.psql
SELECT plan(19);

CREATE ROLE tm_or_connect LOGIN;			-- no right on any queue
CREATE ROLE tm_or_nobody LOGIN;				-- nor this one
CREATE ROLE tm_or_worker LOGIN;				-- consume on or-a
CREATE ROLE tm_or_manager LOGIN;			-- manage on or-a
CREATE ROLE tm_or_team NOLOGIN;				-- produce on or-team
CREATE ROLE tm_or_member LOGIN IN ROLE tm_or_team;
SELECT taskmill.grant('tm_or_worker', 'or-a', ARRAY['consume']);
SELECT taskmill.grant('tm_or_manager', 'or-a', ARRAY['manage']);
SELECT taskmill.grant('tm_or_team', 'or-team', ARRAY['produce']);

-- 'ok' or the error as SQLSTATE, message (every number in it replaced by N), detail and hint.
CREATE FUNCTION tm_test.error_of(call text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	m text; d text; h text;
BEGIN
	EXECUTE call;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
	RETURN concat_ws(' | ', SQLSTATE, regexp_replace(m, '[0-9]+', 'N', 'g'), d, h);
END $$;
GRANT USAGE ON SCHEMA tm_test TO PUBLIC;

-- has_queue_right about other roles
SET ROLE tm_or_connect;
SELECT throws_ok($$SELECT taskmill.has_queue_right('tm_or_worker', 'or-a', 'consume')$$, '42501',
	'permission denied to examine the queue rights of role "tm_or_worker"',
	'Security.RightsOracle_Other: a CONNECT-only role cannot learn another role''s rights');
SELECT throws_ok($$SELECT taskmill.has_queue_right('tm_or_nobody', 'or-a', 'consume')$$, '42501', NULL,
	'Security.RightsOracle_Other: nor about a role that holds none (the answer is not what decides)');
SELECT throws_ok($$SELECT taskmill.has_queue_right(4000000000::oid::regrole, 'or-a', 'consume')$$, '42501', NULL,
	'Security.RightsOracle_Other: nor about a role id that names no role');
SELECT is(taskmill.has_queue_right('tm_or_connect', 'or-a', 'consume'), false,
	'Security.RightsOracle_Self: a role learns its own rights');
RESET ROLE;
SET ROLE tm_or_worker;
SELECT is(taskmill.has_queue_right('tm_or_worker', 'or-a', 'consume'), true,
	'Security.RightsOracle_Self: a worker learns its own right');
SELECT throws_ok($$SELECT taskmill.has_queue_right('tm_or_manager', 'or-a', 'manage')$$, '42501', NULL,
	'Security.RightsOracle_Other: a worker cannot learn the rights of the queue''s manager');
RESET ROLE;
SET ROLE tm_or_member;
SELECT is(taskmill.has_queue_right('tm_or_team', 'or-team', 'produce'), true,
	'Security.RightsOracle_Member: a member learns the rights of its group role');
RESET ROLE;
SET ROLE tm_or_manager;
SELECT is(taskmill.has_queue_right('tm_or_worker', 'or-a', 'consume'), true,
	'Security.RightsOracle_Manager: a manager learns every role''s rights on its queue');
SELECT throws_ok($$SELECT taskmill.has_queue_right('tm_or_worker', 'or-b', 'consume')$$, '42501', NULL,
	'Security.RightsOracle_Manager: but not on a queue it does not manage');
RESET ROLE;
SELECT is(taskmill.has_queue_right('tm_or_worker', 'or-a', 'consume'), true,
	'Security.RightsOracle_Admin: a superuser learns every role''s rights');

-- requeue_from_dlq: missing or not yours, one answer
SELECT taskmill.enqueue('or-b', 'dead', max_attempts => 1) AS b_dead \gset
SELECT tm_test.take('or-b') = :b_dead;
SELECT taskmill.nack(:b_dead, tm_test.lease(:b_dead), 'boom') = 'dlq';
SELECT taskmill.enqueue('or-b', 'live') AS b_live \gset
SELECT taskmill.enqueue('or-a', 'dead', max_attempts => 1) AS a_dead \gset
SELECT tm_test.take('or-a') = :a_dead;
SELECT taskmill.nack(:a_dead, tm_test.lease(:a_dead), 'boom') = 'dlq';
SELECT taskmill.enqueue('or-a', 'live') AS a_live \gset
SELECT max(id) + 1000 AS missing FROM taskmill.tasks \gset

SET ROLE tm_or_connect;
SELECT is(tm_test.error_of(format('SELECT taskmill.requeue_from_dlq(%s)', :b_dead)),
	tm_test.error_of(format('SELECT taskmill.requeue_from_dlq(%s)', :missing)),
	'Security.RequeueOracle: a dead task of a queue the role does not manage answers as a missing one');
SELECT is(tm_test.error_of(format('SELECT taskmill.requeue_from_dlq(%s)', :b_live)),
	tm_test.error_of(format('SELECT taskmill.requeue_from_dlq(%s)', :missing)),
	'Security.RequeueOracle: so does a live one (no "not in the dead-letter queue")');
SELECT throws_ok(format('SELECT taskmill.requeue_from_dlq(%s)', :b_dead), 'P0002',
	format('task %s does not exist', :b_dead),
	'Security.RequeueOracle: the answer is P0002 "does not exist"');
RESET ROLE;
SET ROLE tm_or_worker;
SELECT is(tm_test.error_of(format('SELECT taskmill.requeue_from_dlq(%s)', :a_dead)),
	tm_test.error_of(format('SELECT taskmill.requeue_from_dlq(%s)', :missing)),
	'Security.RequeueOracle: a worker of the queue (no manage right) gets the same answer');
RESET ROLE;
SET ROLE tm_or_manager;
SELECT is(tm_test.error_of(format('SELECT taskmill.requeue_from_dlq(%s)', :b_dead)),
	tm_test.error_of(format('SELECT taskmill.requeue_from_dlq(%s)', :missing)),
	'Security.RequeueOracle: a manager of another queue gets the same answer');
SELECT is(tm_test.error_of(format('SELECT taskmill.requeue_from_dlq(%s)', :missing)),
	'P0002 | task N does not exist |  | Tasks of queues on which the role does not hold the manage right are not found either.',
	'Security.RequeueOracle: the one answer, in full');
SELECT throws_ok(format('SELECT taskmill.requeue_from_dlq(%s)', :a_live), '55000', NULL,
	'Security.RequeueOracle: a manager of the task''s queue learns it is not in the DLQ');
SELECT lives_ok(format('SELECT taskmill.requeue_from_dlq(%s)', :a_dead),
	'Security.RequeueOracle: and requeues its dead task');
RESET ROLE;
SELECT is(tm_test.state(:b_dead), 'dlq', 'Security.RequeueOracle: the other queue''s dead task stayed dead');

SELECT * FROM finish();
ROLLBACK;
