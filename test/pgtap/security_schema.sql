-- Issue 10 finding 2: CREATE EXTENSION must not adopt a schema "taskmill" that another role
-- made (and could have planted objects in). The control file names the schema; PostgreSQL
-- creates it when missing and adopts it when present, so the install script refuses a
-- present one unless a superuser owns it, it is empty, and no one else may CREATE in it.
-- Every attempt runs in this file's transaction, which rolls back.
BEGIN;
SELECT plan(9);
SET client_min_messages = warning;

CREATE ROLE tm_sec_schema_evil LOGIN;
DROP EXTENSION taskmill CASCADE;
DROP SCHEMA taskmill;  -- CREATE EXTENSION made it, DROP EXTENSION leaves it

-- The attack: a role creates the schema first and plants the README's first call.
CREATE SCHEMA taskmill AUTHORIZATION tm_sec_schema_evil;
SET ROLE tm_sec_schema_evil;
CREATE FUNCTION taskmill.enqueue(text, text, text) RETURNS bigint LANGUAGE sql AS 'SELECT 0::bigint';
RESET ROLE;
SELECT throws_ok($$CREATE EXTENSION taskmill$$, '42P06',
	'schema "taskmill" already exists and is owned by role "tm_sec_schema_evil", not by a superuser',
	'Security.Schema_OtherOwner: a schema created by another role is refused');

-- Owned by a superuser, but not empty.
ALTER SCHEMA taskmill OWNER TO CURRENT_USER;
SELECT throws_ok($$CREATE EXTENSION taskmill$$, '42P06',
	'schema "taskmill" already exists and is not empty',
	'Security.Schema_NotEmpty: a schema with objects in it is refused');
SELECT is((SELECT count(*) FROM pg_extension WHERE extname = 'taskmill'), 0::bigint,
	'Security.Schema_NotEmpty: no extension was created');

-- Empty and owned by a superuser, but another role may create objects in it.
DROP FUNCTION taskmill.enqueue(text, text, text);
GRANT CREATE ON SCHEMA taskmill TO tm_sec_schema_evil;
SELECT throws_ok($$CREATE EXTENSION taskmill$$, '42P06',
	'schema "taskmill" already exists and roles other than its owner may create objects in it',
	'Security.Schema_ForeignCreate: a schema others may CREATE in is refused');

-- What pg_restore does (CREATE SCHEMA as a superuser, then CREATE EXTENSION) is accepted.
REVOKE CREATE ON SCHEMA taskmill FROM tm_sec_schema_evil;
SELECT lives_ok($$CREATE EXTENSION taskmill$$,
	'Security.Schema_Restore: an empty schema owned by a superuser is adopted');
SELECT lives_ok($$DROP EXTENSION taskmill; DROP SCHEMA taskmill$$, 'Security.Schema: clean slate');

-- No schema at all: created by CREATE EXTENSION.
SELECT lives_ok($$CREATE EXTENSION taskmill$$, 'Security.Schema_Missing: CREATE EXTENSION creates it');

-- Every object of the extension is in schema taskmill (the script qualifies every name).
SELECT is((SELECT count(*) FROM pg_depend d
	JOIN pg_extension e ON e.oid = d.refobjid AND d.refclassid = 'pg_extension'::regclass
	WHERE e.extname = 'taskmill' AND d.deptype = 'e'
	  AND (pg_identify_object(d.classid, d.objid, 0)).schema IS DISTINCT FROM 'taskmill'), 0::bigint,
	'Security.Schema_Qualified: every member object of the extension is in schema taskmill');

-- No role but the owner reaches the schema's tables: USAGE on the schema is public, the
-- tables and the install secret are granted to no one.
SELECT is((SELECT count(*) FROM pg_class c
	WHERE c.relnamespace = 'taskmill'::regnamespace AND c.relkind IN ('r', 'v', 'S')
	  AND c.relacl IS NOT NULL), 0::bigint,
	'Security.Schema_NoGrants: no table, view or sequence of taskmill is granted to anyone');

SELECT * FROM finish();
ROLLBACK;
