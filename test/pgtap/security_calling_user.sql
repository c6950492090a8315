-- Who called: tm_calling_user() names the role that called the innermost queue function
-- switched to the extension owner. An error inside such a function, caught by the caller
-- (a plpgsql EXCEPTION block, a savepoint), unwinds past the switch's end: the caller it
-- recorded must not outlive that subtransaction, or a later call inside a SECURITY
-- DEFINER function of the owner's (where current_user is the owner under a local user
-- id change, as in a switched body) would be taken for that earlier caller: a schedule
-- registered there would belong to the wrong role.
BEGIN;
\ir helpers.psql
SELECT plan(3);

CREATE ROLE tm_cu_a LOGIN;
SELECT taskmill.grant('tm_cu_a', 'cu-a', ARRAY['produce']);
-- an insert that fails inside the switched body of enqueue
ALTER TABLE taskmill.tasks ADD CONSTRAINT tm_cu_boom CHECK (operation_id <> 'boom');

SET LOCAL ROLE tm_cu_a;
DO $$
BEGIN
	PERFORM taskmill.enqueue('cu-a', 'boom');
	RAISE EXCEPTION 'not reached';
EXCEPTION WHEN check_violation THEN
	NULL;
END $$;
SELECT ok(taskmill.enqueue('cu-a', 'fine') > 0, 'CallingUser: the caller goes on after the caught error');
RESET ROLE;

-- An application's SECURITY DEFINER wrapper owned by the extension owner.
CREATE FUNCTION public.tm_cu_register() RETURNS integer LANGUAGE sql SECURITY DEFINER
	SET search_path = pg_catalog
	AS $$ SELECT taskmill.register_schedules('cu-s', '[{"operation_id": "t", "cron": "@daily"}]') $$;
GRANT EXECUTE ON FUNCTION public.tm_cu_register() TO tm_cu_a;
SET LOCAL ROLE tm_cu_a;
SELECT is(public.tm_cu_register(), 1, 'CallingUser: the wrapper registers one schedule');
RESET ROLE;
SELECT is((SELECT owner FROM taskmill.task_schedules WHERE queue_name = 'cu-s'), session_user::text,
	'CallingUser: it belongs to the wrapper''s owner, not to the caller of an earlier failed call');

SELECT * FROM finish();
ROLLBACK;
