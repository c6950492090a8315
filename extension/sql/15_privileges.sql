-- 15_privileges.sql: who may do what on which queue (extension/privileges.c, definer.c,
-- docs/security.md), and the install secret behind the names no role may learn (secret.c).
--
-- The tables of the extension are granted to no one: rows are read and written only by the
-- queue functions, which check the caller's right on the queue and then run as the
-- extension owner.

-- Queue rights: produce (enqueue), consume (dequeue, wait, listen), manage (console,
-- schedules, DLQ). A row grants its rights on every queue its pattern matches ('*' stands
-- for any run of characters) to the role named (and the roles that have its privileges),
-- or to every role ('public').
CREATE TABLE taskmill.queue_grants (
	grantee			text NOT NULL,
	queue_pattern	text NOT NULL,
	produce			boolean NOT NULL DEFAULT false,
	consume			boolean NOT NULL DEFAULT false,
	manage			boolean NOT NULL DEFAULT false,
	CONSTRAINT queue_grants_pkey PRIMARY KEY (grantee, queue_pattern),
	CONSTRAINT queue_grants_queue_pattern_check
		CHECK (queue_pattern <> '' AND pg_catalog.octet_length(queue_pattern) <= 255)
);

COMMENT ON TABLE taskmill.queue_grants IS
	'Rights on queues (produce, consume, manage) granted to roles: taskmill.grant / taskmill.revoke.';

-- Every backend caches what it read from queue_grants; a change invalidates the caches
-- at commit.
CREATE FUNCTION taskmill.queue_grants_changed()
RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'taskmill_queue_grants_changed';

CREATE TRIGGER queue_grants_changed
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON taskmill.queue_grants
	FOR EACH STATEMENT EXECUTE FUNCTION taskmill.queue_grants_changed();

SELECT pg_catalog.pg_extension_config_dump('taskmill.queue_grants', '');

-- 32 random bytes made at install (two version-4 UUIDs: 244 random bits), readable by the
-- extension owner only: the key of the hashes that name lock tags and NOTIFY channels.
-- Not dumped: a restored database gets a secret of its own.
CREATE TABLE taskmill.install_secret (
	secret			bytea NOT NULL,
	CONSTRAINT install_secret_secret_check CHECK (pg_catalog.octet_length(secret) >= 16)
);

COMMENT ON TABLE taskmill.install_secret IS
	'The key of the hashes that name taskmill''s lock tags and NOTIFY channels; readable by the extension owner only.';

INSERT INTO taskmill.install_secret (secret)
SELECT pg_catalog.decode(pg_catalog.replace(
	pg_catalog.gen_random_uuid()::text || pg_catalog.gen_random_uuid()::text, '-', ''), 'hex');

-- Raises 42501 unless the caller may change queue rights: a superuser, or a member of the
-- role that owns the extension. taskmill.grant and taskmill.revoke call it first.
CREATE FUNCTION taskmill.require_grant_manager(action text)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NOT COALESCE((SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = current_user), false)
	   AND NOT pg_catalog.pg_has_role(current_user,
			(SELECT c.relowner FROM pg_catalog.pg_class c
			 WHERE c.oid = 'taskmill.queue_grants'::pg_catalog.regclass), 'USAGE') THEN
		RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
			MESSAGE = pg_catalog.format('permission denied for function %s', pg_catalog.left($1, 16)),
			DETAIL = pg_catalog.format('Only superusers and the owner of the taskmill extension may %s queue rights.',
				pg_catalog.left($1, 16));
	END IF;
END
$$;

COMMENT ON FUNCTION taskmill.require_grant_manager(text) IS
	'Raises 42501 unless the caller is a superuser or a member of the extension owner: the check of taskmill.grant and taskmill.revoke.';

CREATE FUNCTION taskmill."grant"(role_name text, queue_pattern text, rights text[])
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
	PERFORM taskmill.require_grant_manager('grant');
	IF $1 IS NULL OR $2 IS NULL OR $3 IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
			MESSAGE = 'role_name, queue_pattern and rights must not be null';
	END IF;
	IF $1 <> 'public' AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = $1) THEN
		RAISE EXCEPTION USING ERRCODE = 'undefined_object',
			MESSAGE = pg_catalog.format('role "%s" does not exist', pg_catalog.left($1, 64));
	END IF;
	IF $2 = '' OR pg_catalog.octet_length($2) > 255 THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = 'queue_pattern must be 1 to 255 bytes long';
	END IF;
	IF pg_catalog.cardinality($3) = 0 OR NOT $3 <@ ARRAY['produce', 'consume', 'manage'] THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = 'rights must be a non-empty array of produce, consume and manage';
	END IF;
	INSERT INTO taskmill.queue_grants AS g (grantee, queue_pattern, produce, consume, manage)
	VALUES ($1, $2, 'produce' = ANY ($3), 'consume' = ANY ($3), 'manage' = ANY ($3))
	ON CONFLICT (grantee, queue_pattern) DO UPDATE
	SET produce = g.produce OR excluded.produce,
		consume = g.consume OR excluded.consume,
		manage = g.manage OR excluded.manage;
END
$$;

COMMENT ON FUNCTION taskmill."grant"(text, text, text[]) IS
	'Grant rights (produce, consume, manage) on the queues matching queue_pattern (''*'' = any characters) to a role or ''public''. Superusers and the extension owner only.';

CREATE FUNCTION taskmill.revoke(role_name text, queue_pattern text, rights text[] DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
	PERFORM taskmill.require_grant_manager('revoke');
	IF $1 IS NULL OR $2 IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
			MESSAGE = 'role_name and queue_pattern must not be null';
	END IF;
	IF $3 IS NOT NULL AND NOT $3 <@ ARRAY['produce', 'consume', 'manage'] THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = 'rights must be an array of produce, consume and manage';
	END IF;
	UPDATE taskmill.queue_grants g
	SET produce = g.produce AND $3 IS NOT NULL AND NOT 'produce' = ANY ($3),
		consume = g.consume AND $3 IS NOT NULL AND NOT 'consume' = ANY ($3),
		manage = g.manage AND $3 IS NOT NULL AND NOT 'manage' = ANY ($3)
	WHERE g.grantee = $1 AND g.queue_pattern = $2;
	DELETE FROM taskmill.queue_grants g
	WHERE g.grantee = $1 AND g.queue_pattern = $2 AND NOT (g.produce OR g.consume OR g.manage);
END
$$;

COMMENT ON FUNCTION taskmill.revoke(text, text, text[]) IS
	'Take back rights granted with taskmill.grant on exactly this (role, queue_pattern); rights NULL = all of them. Superusers and the extension owner only.';

CREATE FUNCTION taskmill.has_queue_right(role regrole, queue_name text, rights text)
RETURNS boolean
LANGUAGE C STRICT STABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'taskmill_has_queue_right';

COMMENT ON FUNCTION taskmill.has_queue_right(regrole, text, text) IS
	'Does the role hold the right (produce, consume, manage, or a comma-separated list: any of them) on the queue?';

-- The FIFO group lock of the dequeue statements (secret.c, lock_keys.h): no one else may
-- take it.
CREATE FUNCTION taskmill.try_group_lock(queue_name text, task_group_id text)
RETURNS boolean
LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'taskmill_try_group_lock';

COMMENT ON FUNCTION taskmill.try_group_lock(text, text) IS
	'Internal to dequeue: try the FIFO group''s lock until the end of the transaction. Executable by the extension owner only.';

REVOKE ALL ON FUNCTION taskmill.try_group_lock(text, text) FROM PUBLIC;

-- Every role may call the queue functions; each checks the caller's right on the queue.
GRANT USAGE ON SCHEMA taskmill TO PUBLIC;
