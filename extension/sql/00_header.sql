-- taskmill install script, assembled by the Makefile from extension/sql/*.sql in name order.
\echo Use "CREATE EXTENSION taskmill" to load this file. \quit

-- The schema taskmill (control file: schema = taskmill) is created by CREATE EXTENSION
-- when it is missing, and adopted as it is when it exists. Adopt it only when no role but
-- a superuser could have put anything into it: owned by a superuser, empty, and nobody
-- else holds CREATE on it. Otherwise a role that created "taskmill" first would keep it,
-- and could plant functions (taskmill.enqueue(text, text, text) ...) that a superuser then
-- calls. (pg_restore creates the schema, owned by a superuser and empty, before CREATE
-- EXTENSION: that passes.)
DO $$
DECLARE
	nsp oid;
	owner_name text;
	owner_super boolean;
BEGIN
	SELECT n.oid, r.rolname::text, r.rolsuper INTO nsp, owner_name, owner_super
	FROM pg_catalog.pg_namespace n JOIN pg_catalog.pg_roles r ON r.oid = n.nspowner
	WHERE n.nspname = 'taskmill';
	IF NOT owner_super THEN
		RAISE EXCEPTION USING ERRCODE = 'duplicate_schema',
			MESSAGE = pg_catalog.format('schema "taskmill" already exists and is owned by role "%s", not by a superuser', owner_name),
			HINT = 'Drop the schema (or make a superuser its owner, and empty it) before CREATE EXTENSION taskmill.';
	END IF;
	IF EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
			   WHERE d.refclassid = 'pg_catalog.pg_namespace'::pg_catalog.regclass
				 AND d.refobjid = nsp
				 -- the extension being created depends on its schema
				 AND d.classid <> 'pg_catalog.pg_extension'::pg_catalog.regclass) THEN
		RAISE EXCEPTION USING ERRCODE = 'duplicate_schema',
			MESSAGE = 'schema "taskmill" already exists and is not empty',
			HINT = 'Drop the schema (or empty it) before CREATE EXTENSION taskmill.';
	END IF;
	IF EXISTS (SELECT 1 FROM pg_catalog.pg_namespace n, pg_catalog.aclexplode(n.nspacl) a
			   WHERE n.oid = nsp AND a.privilege_type = 'CREATE' AND a.grantee <> n.nspowner) THEN
		RAISE EXCEPTION USING ERRCODE = 'duplicate_schema',
			MESSAGE = 'schema "taskmill" already exists and roles other than its owner may create objects in it',
			HINT = 'REVOKE CREATE ON SCHEMA taskmill from them, or drop the schema, before CREATE EXTENSION taskmill.';
	END IF;
END
$$;
