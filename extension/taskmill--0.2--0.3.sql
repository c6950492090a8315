-- taskmill 0.2 -> 0.3. Applied by ALTER EXTENSION taskmill UPDATE. Every change to SQL
-- objects since 0.2 is here, and also in extension/sql/*.sql (the full script of 0.3); the
-- upgrade suite checks that both give the same schema.
\echo Use "ALTER EXTENSION taskmill UPDATE TO '0.3'" to load this file. \quit

-- ---- scheduler: schedules whose owner the update from 0.1 made up ----
-- The update from 0.1 gave every 0.1 schedule to the role that ran it (ADD COLUMN owner
-- ... DEFAULT CURRENT_USER), so those schedules have run with that role's rights, not
-- with a right anyone granted for them. That role is the column's missing value (the
-- default evaluated once by that ALTER TABLE): a schedule owned by it has no known owner.
-- It stops (next_run_at NULL) until a manager of its queue registers it again, which
-- makes that manager its owner (docs/releases.md, docs/security.md "Scheduler"). A
-- database restored from a dump since, or whose table was rewritten (VACUUM FULL), has
-- no missing value: docs/releases.md says how to find such schedules by hand.
UPDATE taskmill.task_schedules s
SET next_run_at = NULL,
	last_error = 'paused by the update to 0.3: its owner was assigned by the update from 0.1; register it again to resume',
	updated_at = pg_catalog.now()
FROM pg_catalog.pg_attribute a
WHERE a.attrelid = 'taskmill.task_schedules'::pg_catalog.regclass
  AND a.attname = 'owner'
  AND a.atthasmissing
  AND s.owner OPERATOR(pg_catalog.=) (a.attmissingval::text::text[])[1];
