/*
 * privileges.c
 *		Who may do what on which queue (docs/security.md).
 *
 * Rights (produce, consume, manage) are granted to roles on queue-name patterns by
 * taskmill.grant and taken back by taskmill.revoke; both write the table
 * taskmill.queue_grants, which, like every table of the extension, is granted to no
 * one. Superusers and the extension owner (the owner of the extension's tables) hold
 * every right. A role holds a right on a queue when a grant row matches the queue
 * (its pattern, where '*' stands for any run of characters) and names the role, a role
 * whose privileges it has (as for table privileges: membership with INHERIT), or
 * "public".
 *
 * The check costs one hash lookup per call: the grant rows are read once per backend,
 * and the rights of each (role, queue) pair asked about are remembered, up to
 * RIGHTS_CACHE_MAX pairs (callers choose both, so the cache is emptied when full
 * rather than grown: a million distinct names once held 275 MiB in one backend). Both
 * are dropped when queue_grants changes (a statement trigger invalidates the table's
 * relcache entry, which reaches every backend at commit), and when roles or role
 * memberships change (pg_authid, pg_auth_members syscache callbacks). Every check
 * first takes in the invalidations other sessions committed, as a new lock would: a
 * revoke reaches a transaction that is already open at its next call, whatever the
 * transaction's isolation level (the grants are read with the latest snapshot).
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "commands/trigger.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "privileges.h"
#include "taskmill.h"

PG_FUNCTION_INFO_V1(taskmill_queue_grants_changed);
PG_FUNCTION_INFO_V1(taskmill_has_queue_right);

typedef struct GrantRow
{
	Oid			grantee;		/* InvalidOid: public */
	char	   *pattern;
	int			rights;
} GrantRow;

typedef struct RightsKey
{
	Oid			role;
	char		queue[TM_NAME_MAX_BYTES + 1];
} RightsKey;

typedef struct RightsEntry
{
	RightsKey	key;
	int			rights;
} RightsEntry;

/* About 300 bytes an entry: at most some 300 KiB per backend. */
#define RIGHTS_CACHE_MAX 1024

/* All of it lives in grants_cxt and goes at once (reset_cache). */
static MemoryContext grants_cxt = NULL;
static bool loaded = false;
static Oid	grants_relid = InvalidOid;	/* taskmill.queue_grants; InvalidOid before 0.2 */
static Oid	owner_id = InvalidOid;
static GrantRow *grants = NULL;
static int	ngrants = 0;
static HTAB *rights_cache = NULL;
static bool callbacks_registered = false;
static bool loading = false;		/* grants are being read or walked */
static bool inval_while_loading = false;

static void
reset_cache(void)
{
	loaded = false;
	grants = NULL;
	ngrants = 0;
	rights_cache = NULL;
	grants_relid = InvalidOid;
	owner_id = InvalidOid;
	if (grants_cxt != NULL)
		MemoryContextReset(grants_cxt);
}

/*
 * An invalidation that arrives while load_grants runs (table_open processes them)
 * must not free what it is filling in: the load finishes, and the next call reloads.
 */
static void
invalidate(void)
{
	if (loading)
		inval_while_loading = true;
	else
		reset_cache();
}

static void
relcache_inval(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == grants_relid)
		invalidate();
}

static void
syscache_inval(Datum arg, int cacheid, uint32 hashvalue)
{
	invalidate();
}

/* The owner of taskmill.tasks: the role the queue functions run their statements as. */
static Oid
tasks_table_owner(Oid nsp)
{
	Oid			tasks_relid = OidIsValid(nsp) ? get_relname_relid("tasks", nsp) : InvalidOid;
	HeapTuple	ctup;
	Oid			owner;

	if (!OidIsValid(tasks_relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("taskmill.tasks does not exist"),
				 errhint("CREATE EXTENSION taskmill in this database.")));
	ctup = SearchSysCache1(RELOID, ObjectIdGetDatum(tasks_relid));
	if (!HeapTupleIsValid(ctup))
		elog(ERROR, "taskmill: cache lookup failed for relation %u", tasks_relid);
	owner = ((Form_pg_class) GETSTRUCT(ctup))->relowner;
	ReleaseSysCache(ctup);
	return owner;
}

/*
 * One row of taskmill.queue_grants (grantee text, queue_pattern text, produce, consume,
 * manage boolean) into *g; false for a row that grants nothing (NULLs, a dropped role).
 */
static bool
read_grant_row(HeapTuple tup, TupleDesc desc, GrantRow *g)
{
	Datum		values[5];
	bool		nulls[5];
	char	   *grantee;

	heap_deform_tuple(tup, desc, values, nulls);
	if (nulls[0] || nulls[1])
		return false;
	grantee = TextDatumGetCString(values[0]);
	if (strcmp(grantee, "public") == 0)
		g->grantee = InvalidOid;
	else
	{
		g->grantee = get_role_oid(grantee, true);
		if (!OidIsValid(g->grantee))
			return false;		/* a dropped role holds nothing */
	}
	g->pattern = MemoryContextStrdup(grants_cxt, TextDatumGetCString(values[1]));
	g->rights = (!nulls[2] && DatumGetBool(values[2]) ? TM_RIGHT_PRODUCE : 0) |
		(!nulls[3] && DatumGetBool(values[3]) ? TM_RIGHT_CONSUME : 0) |
		(!nulls[4] && DatumGetBool(values[4]) ? TM_RIGHT_MANAGE : 0);
	return true;
}

/* Read the grant rows into grants[] (a heap scan: the caller may be any role). */
static void
scan_grants(Oid relid)
{
	int			cap = 16;
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;
	Snapshot	snap;

	grants = MemoryContextAlloc(grants_cxt, sizeof(GrantRow) * cap);
	if (!OidIsValid(relid))
		return;
	rel = table_open(relid, AccessShareLock);
	snap = RegisterSnapshot(GetLatestSnapshot());
	scan = table_beginscan(rel, snap, 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		if (ngrants == cap)
		{
			cap *= 2;
			grants = repalloc(grants, sizeof(GrantRow) * cap);
		}
		if (read_grant_row(tup, RelationGetDescr(rel), &grants[ngrants]))
			ngrants++;
	}
	table_endscan(scan);
	UnregisterSnapshot(snap);
	table_close(rel, AccessShareLock);
}

/* An empty rights cache (its own memory context, under grants_cxt). */
static void
create_rights_cache(void)
{
	HASHCTL		ctl;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(RightsKey);
	ctl.entrysize = sizeof(RightsEntry);
	ctl.hcxt = grants_cxt;
	rights_cache = hash_create("taskmill queue rights", 64, &ctl,
							   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

/* Read the extension's owner and the grant rows; an empty rights cache. */
static void
load_grants(void)
{
	Oid			nsp;
	Oid			owner;

	if (!callbacks_registered)
	{
		CacheRegisterRelcacheCallback(relcache_inval, (Datum) 0);
		CacheRegisterSyscacheCallback(AUTHOID, syscache_inval, (Datum) 0);
		CacheRegisterSyscacheCallback(AUTHMEMROLEMEM, syscache_inval, (Datum) 0);
		callbacks_registered = true;
	}
	if (grants_cxt == NULL)
		grants_cxt = AllocSetContextCreate(CacheMemoryContext, "taskmill queue grants",
										   ALLOCSET_SMALL_SIZES);
	/* errors (no extension here) before anything is torn down */
	nsp = get_namespace_oid("taskmill", true);
	owner = tasks_table_owner(nsp);

	reset_cache();
	loading = true;
	inval_while_loading = false;
	owner_id = owner;
	grants_relid = get_relname_relid("queue_grants", nsp);
	scan_grants(grants_relid);

	create_rights_cache();
	loading = false;
	/* 0.1's schema, until ALTER EXTENSION UPDATE: no grants; read again next call */
	loaded = OidIsValid(grants_relid);
}

/*
 * Load the grants if needed. After a load that an invalidation overtook, what was
 * read serves this call only.
 */
static void
ensure_loaded(void)
{
	/* what other sessions committed (queue_grants, roles) since the last check */
	AcceptInvalidationMessages();
	loading = false;			/* (left set by an error in a walk: nothing is walked now) */
	if (loaded && !inval_while_loading)
		return;
	/* (the grants of a 0.1 schema are read anew at every call: !loaded) */
	if (loaded && inval_while_loading)
		reset_cache();
	load_grants();
}

/* Does name match pattern, where '*' stands for any run of characters? */
static bool
pattern_matches(const char *p, const char *s, int len)
{
	const char *end = s + len;
	const char *star = NULL;
	const char *resume = NULL;

	while (s < end)
	{
		if (*p == '*')
		{
			star = ++p;
			resume = s;
		}
		else if (*p != '\0' && *p == *s)
		{
			p++;
			s++;
		}
		else if (star != NULL)
		{
			p = star;
			s = ++resume;
		}
		else
			return false;
	}
	while (*p == '*')
		p++;
	return *p == '\0';
}

/* The owner of the extension's tables: every right, and the role queue functions run as. */
Oid
tm_extension_owner(void)
{
	ensure_loaded();
	return owner_id;
}

/* Superusers and the extension owner (and roles with its privileges) hold every right. */
bool
tm_is_queue_admin(Oid role)
{
	AcceptInvalidationMessages();	/* (a superuser made an ordinary role meanwhile) */
	if (superuser_arg(role))
		return true;
	return has_privs_of_role(role, tm_extension_owner());
}

/* Does role hold at least one of rights on the queue? */
bool
tm_has_queue_right(Oid role, const char *queue, int len, int rights)
{
	RightsKey	key;
	RightsEntry *e;

	AcceptInvalidationMessages();	/* (a superuser made an ordinary role meanwhile) */
	if (superuser_arg(role))
		return true;
	ensure_loaded();
	if (has_privs_of_role(role, owner_id))
		return true;
	if (len > TM_NAME_MAX_BYTES)
		return false;			/* no such queue can exist */

	memset(&key, 0, sizeof(key));
	key.role = role;
	memcpy(key.queue, queue, len);
	e = hash_search(rights_cache, &key, HASH_FIND, NULL);
	if (e == NULL)
	{
		int			r = 0;

		/* has_privs_of_role may read catalogs, and so take invalidations: defer them */
		loading = true;
		for (int i = 0; i < ngrants; i++)
		{
			if ((grants[i].rights & ~r) == 0)
				continue;
			if (OidIsValid(grants[i].grantee) && !has_privs_of_role(role, grants[i].grantee))
				continue;
			if (pattern_matches(grants[i].pattern, queue, len))
				r |= grants[i].rights;
		}
		loading = false;
		/* full: start again rather than grow with every name a caller makes up */
		if (hash_get_num_entries(rights_cache) >= RIGHTS_CACHE_MAX)
		{
			hash_destroy(rights_cache);
			create_rights_cache();
		}
		e = hash_search(rights_cache, &key, HASH_ENTER, NULL);
		e->rights = r;
	}
	return (e->rights & rights) != 0;
}

const char *
tm_right_name(int right)
{
	switch (right)
	{
		case TM_RIGHT_PRODUCE:
			return "produce";
		case TM_RIGHT_CONSUME:
			return "consume";
		case TM_RIGHT_MANAGE:
			return "manage";
		default:
			return "produce, consume or manage";
	}
}

/* 42501 unless role holds right on the queue. */
void
tm_require_queue_right(Oid role, const char *queue, int len, int right)
{
	if (tm_has_queue_right(role, queue, len, right))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied for queue \"%s\": %s right required",
					pnstrdup(queue, pg_mbcliplen(queue, len, TM_NAME_MAX_BYTES)), tm_right_name(right)),
			 errdetail("Role \"%s\" does not hold the %s right on the queue.",
					   GetUserNameFromId(role, true) ? GetUserNameFromId(role, true) : "?",
					   tm_right_name(right)),
			 errhint("A superuser or the extension owner grants it with taskmill.grant().")));
}

/* 42501 unless role is a superuser or the extension owner. */
void
tm_require_queue_admin(Oid role, const char *what)
{
	if (tm_is_queue_admin(role))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied for %s", what),
			 errdetail("Only superusers and the owner of the taskmill extension may call it.")));
}

/*
 * Statement trigger on taskmill.queue_grants: every backend forgets what it read from
 * the table when this transaction commits.
 */
Datum
taskmill_queue_grants_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("taskmill.queue_grants_changed() can only be called as a trigger")));
	CacheInvalidateRelcacheByRelid(RelationGetRelid(trigdata->tg_relation));
	return PointerGetDatum(NULL);
}

/* "produce", "consume", "manage", or a comma-separated list of them (any of them). */
static int
parse_rights(const char *s)
{
	int			rights = 0;
	char	   *copy = pstrdup(s);
	char	   *tok;
	char	   *save;

	for (tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save))
	{
		while (*tok == ' ')
			tok++;
		if (pg_strncasecmp(tok, "produce", 7) == 0 && strspn(tok + 7, " ") == strlen(tok + 7))
			rights |= TM_RIGHT_PRODUCE;
		else if (pg_strncasecmp(tok, "consume", 7) == 0 && strspn(tok + 7, " ") == strlen(tok + 7))
			rights |= TM_RIGHT_CONSUME;
		else if (pg_strncasecmp(tok, "manage", 6) == 0 && strspn(tok + 6, " ") == strlen(tok + 6))
			rights |= TM_RIGHT_MANAGE;
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unrecognized queue right \"%s\"", tm_quote(tok, strlen(tok))),
					 errhint("The rights are produce, consume and manage.")));
	}
	if (rights == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("no queue right named")));
	return rights;
}

/* Could caller use role's privileges (INHERIT) or become it (SET ROLE)? */
static bool
may_act_as(Oid caller, Oid role)
{
	if (has_privs_of_role(caller, role))
		return true;
#if PG_VERSION_NUM >= 160000
	return member_can_set_role(caller, role);
#else
	return is_member_of_role(caller, role);
#endif
}

/*
 * taskmill.has_queue_right(role regrole, queue_name text, rights text) RETURNS boolean
 *
 * As has_table_privilege: does the role hold the right (or any of a comma-separated
 * list) on the queue? STRICT. Unlike has_table_privilege it answers about a role other
 * than current_user only where current_user could learn the answer anyway: for a role
 * it is a member of (it could SET ROLE), for a superuser or the extension owner (they
 * read queue_grants), and on a queue it manages. Anyone else gets 42501, whatever the
 * answer would have been: queue_grants is the owner's, and a function that read it
 * out for every role would undo that.
 */
Datum
taskmill_has_queue_right(PG_FUNCTION_ARGS)
{
	Oid			role = PG_GETARG_OID(0);
	text	   *queue = PG_GETARG_TEXT_PP(1);
	int			rights = parse_rights(text_to_cstring(PG_GETARG_TEXT_PP(2)));
	const char *name = VARDATA_ANY(queue);
	int			len = VARSIZE_ANY_EXHDR(queue);
	Oid			caller = GetUserId();

	if (role != caller && !may_act_as(caller, role) && !tm_is_queue_admin(caller) &&
		!tm_has_queue_right(caller, name, len, TM_RIGHT_MANAGE))
	{
		const char *role_name = GetUserNameFromId(role, true);

		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to examine the queue rights of role \"%s\"",
						role_name ? role_name : psprintf("%u", role)),
				 errdetail("A role may examine its own rights, those of the roles it is a member of, and every role's rights on the queues it manages.")));
	}
	PG_RETURN_BOOL(tm_has_queue_right(role, name, len, rights));
}
