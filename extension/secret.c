/*
 * secret.c
 *		Names no role can learn or precompute: the database's install secret and the
 *		keyed hashes made from it (lock tags, NOTIFY channels).
 *
 * CREATE EXTENSION stores 32 random bytes in taskmill.install_secret, a table granted
 * to no one (only its owner, the extension owner, and superusers read it). Every name
 * the queue shows to all roles -- the lock tags in pg_locks, the NOTIFY channel a
 * worker LISTENs on -- is HMAC-SHA256(secret, purpose || queue ...), so a role without
 * rights on a queue can neither take its locks (they are outside the user advisory
 * key spaces, lock_keys.h) nor find its name in them, nor LISTEN for its wake-ups
 * (the channel is handed out by taskmill.listen, which checks the consume right).
 *
 * The secret is read once per backend with a plain heap scan (no privilege check:
 * the caller may be any role, the value never leaves this file) and dropped when the
 * table's relcache entry is invalidated (DROP / CREATE EXTENSION).
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "common/cryptohash.h"
#include "common/hmac.h"
#include "common/sha2.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "lock_keys.h"
#include "privileges.h"
#include "taskmill.h"

PG_FUNCTION_INFO_V1(taskmill_try_group_lock);

#define SECRET_BYTES 32

static Oid	secret_relid = InvalidOid;
static uint8 secret[SECRET_BYTES];
static bool secret_loaded = false;
static bool callback_registered = false;

static void
secret_inval(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == secret_relid)
	{
		secret_loaded = false;
		secret_relid = InvalidOid;
	}
}

/* Read taskmill.install_secret (one row, one bytea column). */
static void
load_secret(void)
{
	Oid			nsp = get_namespace_oid("taskmill", true);
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;
	Snapshot	snap;
	bool		found = false;

	if (!callback_registered)
	{
		CacheRegisterRelcacheCallback(secret_inval, (Datum) 0);
		callback_registered = true;
	}
	secret_relid = OidIsValid(nsp) ? get_relname_relid("install_secret", nsp) : InvalidOid;
	if (!OidIsValid(secret_relid))
	{
		/*
		 * taskmill 0.1's schema, until ALTER EXTENSION UPDATE: no secret yet, so the
		 * names are keyed with zeros, and looked up again at the next call.
		 */
		memset(secret, 0, sizeof(secret));
		return;
	}

	rel = table_open(secret_relid, AccessShareLock);
	snap = RegisterSnapshot(GetLatestSnapshot());
	scan = table_beginscan(rel, snap, 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, 1, RelationGetDescr(rel), &isnull);
		bytea	   *b;

		if (isnull)
			continue;
		b = DatumGetByteaPP(d);
		if (VARSIZE_ANY_EXHDR(b) < 16)
			continue;
		memset(secret, 0, sizeof(secret));
		memcpy(secret, VARDATA_ANY(b), Min(VARSIZE_ANY_EXHDR(b), SECRET_BYTES));
		found = true;
	}
	table_endscan(scan);
	UnregisterSnapshot(snap);
	table_close(rel, AccessShareLock);
	if (!found)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("taskmill.install_secret holds no secret")));
	secret_loaded = true;
}

/*
 * HMAC-SHA256(secret, purpose NUL part1 [NUL part2]) into out (32 bytes). The NULs
 * keep ("ab", "c") and ("a", "bc") apart.
 */
static void
keyed_hash(const char *purpose, const char *part1, int len1, const char *part2, int len2,
		   uint8 *out)
{
	pg_hmac_ctx *ctx;
	static const uint8 sep = 0;

	if (!secret_loaded)
		load_secret();
	ctx = pg_hmac_create(PG_SHA256);
	if (ctx == NULL ||
		pg_hmac_init(ctx, secret, SECRET_BYTES) < 0 ||
		pg_hmac_update(ctx, (const uint8 *) purpose, strlen(purpose)) < 0 ||
		pg_hmac_update(ctx, &sep, 1) < 0 ||
		pg_hmac_update(ctx, (const uint8 *) part1, len1) < 0 ||
		(part2 != NULL &&
		 (pg_hmac_update(ctx, &sep, 1) < 0 ||
		  pg_hmac_update(ctx, (const uint8 *) part2, len2) < 0)) ||
		pg_hmac_final(ctx, out, PG_SHA256_DIGEST_LENGTH) < 0)
	{
		pg_hmac_free(ctx);
		elog(ERROR, "taskmill: HMAC-SHA256 failed");
	}
	pg_hmac_free(ctx);
}

static void
set_tag(LOCKTAG *tag, const uint8 *h, uint16 kind)
{
	uint32		hi = ((uint32) h[0] << 24) | ((uint32) h[1] << 16) | ((uint32) h[2] << 8) | h[3];
	uint32		lo = ((uint32) h[4] << 24) | ((uint32) h[5] << 16) | ((uint32) h[6] << 8) | h[7];

	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, hi, lo, kind);
}

/* A queue's lock of the given kind (lock_keys.h), keyed by purpose and queue name. */
void
tm_queue_lock_tag(LOCKTAG *tag, const char *purpose, const char *queue_name, int len,
				  uint16 kind)
{
	uint8		h[PG_SHA256_DIGEST_LENGTH];

	keyed_hash(purpose, queue_name, len, NULL, 0, h);
	set_tag(tag, h, kind);
}

/*
 * The wait lock of a queue (lock_keys.h TM_LOCK_KIND_WAIT). The last queue's tag is
 * kept: a producer probes the same queue at every commit.
 */
void
tm_wait_lock_tag(LOCKTAG *tag, const char *queue_name, int len)
{
	static char last_queue[TM_NAME_MAX_BYTES + 1];
	static int	last_len = -1;
	static LOCKTAG last_tag;

	if (!secret_loaded || len != last_len || memcmp(last_queue, queue_name, len) != 0)
	{
		uint8		h[PG_SHA256_DIGEST_LENGTH];

		keyed_hash("wait", queue_name, len, NULL, 0, h);
		set_tag(&last_tag, h, TM_LOCK_KIND_WAIT);
		if (len <= TM_NAME_MAX_BYTES)
		{
			memcpy(last_queue, queue_name, len);
			last_len = len;
		}
	}
	*tag = last_tag;
}

/*
 * The NOTIFY channel of a queue: "taskmill_" and 32 hex digits of its keyed hash (41
 * bytes, within NAMEDATALEN). Palloc'd in the current memory context. The last
 * queue's channel is kept, as for the wait lock.
 */
char *
tm_queue_channel(const char *queue_name, int len)
{
	static char last_queue[TM_NAME_MAX_BYTES + 1];
	static int	last_len = -1;
	static char last_channel[64];

	if (!secret_loaded || len != last_len || memcmp(last_queue, queue_name, len) != 0)
	{
		uint8		h[PG_SHA256_DIGEST_LENGTH];

		keyed_hash("channel", queue_name, len, NULL, 0, h);
		memcpy(last_channel, "taskmill_", 9);
		hex_encode((const char *) h, 16, last_channel + 9);
		last_channel[9 + 32] = '\0';
		if (len <= TM_NAME_MAX_BYTES)
		{
			memcpy(last_queue, queue_name, len);
			last_len = len;
		}
	}
	return pstrdup(last_channel);
}

/* Is there a taskmill.try_group_lock(text, text)? (Not in 0.1's schema.) */
bool
tm_have_group_lock_function(void)
{
	Oid			nsp = get_namespace_oid("taskmill", true);
	Oid			argtypes[2] = {TEXTOID, TEXTOID};

	return OidIsValid(nsp) &&
		SearchSysCacheExists3(PROCNAMEARGSNSP, CStringGetDatum("try_group_lock"),
							  PointerGetDatum(buildoidvector(argtypes, 2)),
							  ObjectIdGetDatum(nsp));
}

/*
 * Try the FIFO group's park lock (lock_keys.h TM_LOCK_KIND_PARK) without waiting, as a
 * session lock (the caller releases it with LockRelease(tag, ExclusiveLock, true) when
 * its call ends, error or not: a dequeue inside a long transaction must not keep the
 * others from parking the group). *tag is set either way.
 */
bool
tm_try_park_lock(Datum queue_name, Datum task_group_id, LOCKTAG *tag)
{
	text	   *queue = DatumGetTextPP(queue_name);
	text	   *group = DatumGetTextPP(task_group_id);
	uint8		h[PG_SHA256_DIGEST_LENGTH];

	keyed_hash("park", VARDATA_ANY(queue), VARSIZE_ANY_EXHDR(queue),
			   VARDATA_ANY(group), VARSIZE_ANY_EXHDR(group), h);
	set_tag(tag, h, TM_LOCK_KIND_PARK);
	return LockAcquire(tag, ExclusiveLock, true, true) != LOCKACQUIRE_NOT_AVAIL;
}

/*
 * taskmill.try_group_lock(queue_name text, task_group_id text) RETURNS boolean
 *
 * Try the FIFO group's dequeue lock (lock_keys.h TM_LOCK_KIND_GROUP) for the rest of
 * the transaction, without waiting. Called by the dequeue statements only: EXECUTE is
 * granted to no one but the extension owner (dequeue runs its statement as the owner).
 */
Datum
taskmill_try_group_lock(PG_FUNCTION_ARGS)
{
	text	   *queue = PG_GETARG_TEXT_PP(0);
	text	   *group = PG_GETARG_TEXT_PP(1);
	uint8		h[PG_SHA256_DIGEST_LENGTH];
	LOCKTAG		tag;

	keyed_hash("group", VARDATA_ANY(queue), VARSIZE_ANY_EXHDR(queue),
			   VARDATA_ANY(group), VARSIZE_ANY_EXHDR(group), h);
	set_tag(&tag, h, TM_LOCK_KIND_GROUP);
	PG_RETURN_BOOL(LockAcquire(&tag, ExclusiveLock, false, true) != LOCKACQUIRE_NOT_AVAIL);
}
