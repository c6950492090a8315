/*
 * lock_keys.h
 *		Every lock-manager key taskmill takes, named once, with its meaning.
 *
 * PostgreSQL's user advisory locks (pg_advisory_lock and friends) live in the lock
 * manager's "advisory" tag space with field4 = 1 (one bigint key) or 2 (two int4
 * keys). A key taken there is a key any role with CONNECT can take too, and so block.
 * The queue's own locks therefore use advisory-type tags with a field4 of their own
 * (a "kind" below), which no SQL function can reach, and their other fields are keyed
 * hashes of the queue (secret.c: HMAC-SHA256 under the database's install secret),
 * so that pg_locks, which every role may read, shows no queue name and no value a
 * role could precompute from one.
 *
 * In pg_locks a taskmill lock is locktype 'advisory', classid/objid = the two halves
 * of the keyed hash, objsubid = the kind.
 *
 * One key is taken elsewhere, listed here so that this file is the one inventory: the
 * C++ client (client/src/client.cpp, Client::migrate) serialises concurrent migrations
 * ("CREATE EXTENSION IF NOT EXISTS taskmill" and "ALTER EXTENSION taskmill UPDATE") of
 * several processes with the transaction lock pg_advisory_xact_lock(7810597874853587308)
 * (field4 1), taken first in the transaction that runs them and released at its end. A
 * role that holds it delays migrate(), nothing else.
 */
#ifndef TASKMILL_LOCK_KEYS_H
#define TASKMILL_LOCK_KEYS_H

/*
 * An idle worker's wait lock on a queue (notify.c): SHARE, session level, held from
 * taskmill.wait_begin to wait_end or disconnect. Enqueues probe it at commit (a
 * conditional ROW EXCLUSIVE request, released at once) and NOTIFY only when it is
 * held. "TM".
 */
#define TM_LOCK_KIND_WAIT			0x544D

/*
 * A FIFO group's dequeue lock (taskmill.try_group_lock, in every dequeue statement):
 * EXCLUSIVE, transaction level, tried without waiting by a dequeue that is about to
 * deliver the group's head, so two concurrent dequeues never deliver two tasks of one
 * group. "TG".
 */
#define TM_LOCK_KIND_GROUP			0x5447

/*
 * A FIFO group's park lock (dequeue.c, fifo.c tm_park): EXCLUSIVE, session level but
 * held only for one dequeue call, tried without waiting by a dequeue that met blocked
 * tasks of the group; only its holder
 * parks them (and the tasks that follow them), so concurrent dequeues of one large
 * blocked group do not all rewrite the same rows. "TP".
 */
#define TM_LOCK_KIND_PARK			0x5450

/*
 * The registrations of one queue's schedules (schedules.c, register_schedules):
 * EXCLUSIVE, transaction level, so that two registrations upserting and deleting the
 * same rows in different orders cannot deadlock. Schedulers never take it. "TS". (It
 * replaces 0.1's user-space key pg_advisory_xact_lock(1953330019, hashtext(...)).)
 */
#define TM_LOCK_KIND_SCHEDULES		0x5453

/*
 * The C++ client's migrate() lock (client/src/client.cpp): an arbitrary constant
 * (0x6C64D1628611A96C), transaction level; documented here, not taken by the extension.
 */
#define TM_CLIENT_MIGRATE_LOCK_KEY	INT64CONST(7810597874853587308)

#endif							/* TASKMILL_LOCK_KEYS_H */
