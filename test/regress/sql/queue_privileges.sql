-- The messages of the privilege model (docs/security.md), in full: a denial names the
-- queue and the missing right (42501), with the role in the detail and the way out in the
-- hint; grant and revoke reject bad input; the schema check of CREATE EXTENSION says why.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS taskmill;
RESET client_min_messages;
\set VERBOSITY default

CREATE ROLE regress_taskmill_producer;
CREATE ROLE regress_taskmill_team;
CREATE ROLE regress_taskmill_member IN ROLE regress_taskmill_team;
SELECT taskmill.grant('regress_taskmill_producer', 'reg_priv_q', ARRAY['produce']);
SELECT taskmill.grant('regress_taskmill_team', 'reg_priv_team.*', ARRAY['consume', 'manage']);
SELECT taskmill.grant('regress_taskmill_team', 'reg_priv_team.*', ARRAY['produce']);
SELECT grantee, queue_pattern, produce, consume, manage FROM taskmill.queue_grants
WHERE grantee LIKE 'regress_taskmill%' ORDER BY 1, 2;

-- has_queue_right: patterns, membership, lists of rights
SELECT r.role, q.queue, taskmill.has_queue_right(r.role::regrole, q.queue, 'produce') AS produce,
	taskmill.has_queue_right(r.role::regrole, q.queue, 'consume') AS consume,
	taskmill.has_queue_right(r.role::regrole, q.queue, 'consume, manage') AS consume_or_manage
FROM (VALUES ('regress_taskmill_producer'), ('regress_taskmill_member')) r(role),
	(VALUES ('reg_priv_q'), ('reg_priv_team.a'), ('reg_priv_team'), ('reg_priv_teamx')) q(queue)
ORDER BY 1, 2;
SELECT taskmill.has_queue_right('regress_taskmill_producer', 'reg_priv_q', 'read');

-- denials
SET ROLE regress_taskmill_producer;
SELECT taskmill.enqueue('reg_priv_q', 'op') AS tid \gset
SELECT * FROM taskmill.dequeue('reg_priv_q');
SELECT taskmill.purge('reg_priv_q');
SELECT taskmill.enqueue('reg_priv_other', 'op');
SELECT taskmill.has_queue_right('regress_taskmill_member', 'reg_priv_q', 'produce');
-- quoted input is cut on a character boundary (2-byte characters cut at an odd byte count
-- before: invalid UTF-8 in the message)
SELECT taskmill.has_queue_right('regress_taskmill_producer', 'reg_priv_q', 'x' || repeat('é', 40));
SELECT * FROM taskmill.queue_stats(repeat('é', 128));
-- (the message names the task id, which depends on the tests before: SQLSTATE only)
\set VERBOSITY sqlstate
SELECT taskmill.requeue_from_dlq(:tid);
\set VERBOSITY default
SELECT taskmill.run_due_schedules();
SELECT taskmill.grant('regress_taskmill_producer', '*', ARRAY['manage']);
SELECT taskmill.revoke('regress_taskmill_producer', 'reg_priv_q');
SELECT count(*) FROM taskmill.tasks;
RESET ROLE;

-- grant / revoke input
SELECT taskmill.grant('regress_taskmill_nobody', 'q', ARRAY['produce']);
SELECT taskmill.grant('regress_taskmill_producer', '', ARRAY['produce']);
SELECT taskmill.grant('regress_taskmill_producer', 'q', ARRAY['read']);
SELECT taskmill.grant('regress_taskmill_producer', 'q', NULL);
SELECT taskmill.revoke('regress_taskmill_team', 'reg_priv_team.*', ARRAY['manage']);
SELECT grantee, queue_pattern, produce, consume, manage FROM taskmill.queue_grants
WHERE grantee LIKE 'regress_taskmill%' ORDER BY 1, 2;
SELECT taskmill.revoke('regress_taskmill_team', 'reg_priv_team.*');
SELECT taskmill.revoke('regress_taskmill_producer', 'reg_priv_q');
SELECT count(*) FROM taskmill.queue_grants WHERE grantee LIKE 'regress_taskmill%';

-- CREATE EXTENSION refuses a schema taskmill made by another role (in a transaction that
-- rolls back)
BEGIN;
SET client_min_messages = warning;
DROP EXTENSION taskmill CASCADE;
DROP SCHEMA taskmill;
RESET client_min_messages;
CREATE SCHEMA taskmill AUTHORIZATION regress_taskmill_producer;
-- (the error's context differs between versions: 18 adds the script's statement and line)
\set SHOW_CONTEXT never
CREATE EXTENSION taskmill;
\set SHOW_CONTEXT errors
ROLLBACK;

SELECT taskmill.purge('reg_priv_q');
DROP ROLE regress_taskmill_member;
DROP ROLE regress_taskmill_team;
DROP ROLE regress_taskmill_producer;
