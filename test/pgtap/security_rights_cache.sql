-- A backend's rights cache is bounded. Every (role, queue) pair asked about, denials
-- included, used to stay in a hash for the backend's lifetime: a role with CONNECT only made
-- one backend hold 275 MiB with a million has_queue_right calls on made-up queue names. The
-- cache is now emptied when it reaches its bound (extension/privileges.c), so the backend's
-- memory (pg_backend_memory_contexts) grows by little over 200,000 distinct names, and the
-- answers stay right after the cache has been emptied many times over.
BEGIN;
\ir helpers.psql
SELECT plan(6);

CREATE ROLE tm_rc_connect LOGIN;		-- no right on any queue
CREATE ROLE tm_rc_producer LOGIN;
SELECT taskmill.grant('tm_rc_producer', 'rc-keep', ARRAY['produce']);

-- The backend's memory, every context (only superusers may read the view).
CREATE FUNCTION tm_test.backend_bytes() RETURNS bigint LANGUAGE sql AS $$
	SELECT sum(total_bytes)::bigint FROM pg_backend_memory_contexts
$$;
-- The rights cache's own context (a dynahash, named after the cache).
CREATE FUNCTION tm_test.rights_cache_bytes() RETURNS bigint LANGUAGE sql AS $$
	SELECT coalesce(sum(total_bytes), 0)::bigint FROM pg_backend_memory_contexts
	WHERE 'taskmill queue rights' IN (name, ident)
$$;

-- Warm up: the grants read, the catalogs cached, as in any backend that served a call.
SET ROLE tm_rc_connect;
SELECT count(*) FROM generate_series(1, 2000) i
WHERE taskmill.has_queue_right('tm_rc_connect', 'rc-warm-' || i, 'produce');
RESET ROLE;
SELECT tm_test.backend_bytes() AS bytes_before \gset

SET ROLE tm_rc_connect;
SELECT is((SELECT count(*) FROM generate_series(1, 200000) i
		WHERE taskmill.has_queue_right('tm_rc_connect', 'rc-flood-' || i, 'produce')), 0::bigint,
	'Security.RightsCache_Bounded: 200,000 distinct queue names asked about by a CONNECT-only role, all denied');
RESET ROLE;
SELECT cmp_ok(tm_test.backend_bytes() - :bytes_before, '<', 8::bigint * 1024 * 1024,
	'Security.RightsCache_Bounded: the backend''s memory grew by less than 8 MiB (unbounded: about 60 MiB)');
SELECT cmp_ok(tm_test.rights_cache_bytes(), '<', 1024::bigint * 1024,
	'Security.RightsCache_Bounded: the rights cache itself holds less than 1 MiB');

-- The same by a superuser asking about made-up role ids (each pair is a key too). (The
-- backend as a whole does grow here: PostgreSQL's own catalog cache keeps a negative entry
-- for each role id looked up, as it does for has_table_privilege(oid, ...).)
SELECT is((SELECT count(*) FROM generate_series(1, 100000) i
		WHERE taskmill.has_queue_right((4000000000 - i)::oid::regrole, 'rc-keep', 'produce')), 0::bigint,
	'Security.RightsCache_Bounded: 100,000 role ids that name no role hold nothing');
SELECT cmp_ok(tm_test.rights_cache_bytes(), '<', 1024::bigint * 1024,
	'Security.RightsCache_Bounded: nor do they grow the rights cache past 1 MiB');

-- Emptied many times over, the cache still answers right.
SET ROLE tm_rc_producer;
SELECT is(concat_ws(' ', taskmill.has_queue_right('tm_rc_producer', 'rc-keep', 'produce'),
		taskmill.has_queue_right('tm_rc_producer', 'rc-keep', 'consume'),
		taskmill.has_queue_right('tm_rc_producer', 'rc-flood-1', 'produce')), 't f f',
	'Security.RightsCache_Bounded: the rights are still those granted');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
