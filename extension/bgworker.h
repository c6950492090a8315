/*
 * bgworker.h
 *		The scheduler background worker and the GUCs that drive it (taskmill.c).
 */
#ifndef TASKMILL_BGWORKER_H
#define TASKMILL_BGWORKER_H

/* Most databases taskmill.scheduler_databases may name (each takes a worker slot). */
#define TASKMILL_MAX_SCHEDULERS 32

/* Seconds the postmaster waits before restarting a scheduler that exited or crashed. */
#define TASKMILL_SCHEDULER_RESTART_SECS 5

extern int	taskmill_scheduler_interval;
extern char *taskmill_scheduler_databases;
extern List *taskmill_scheduler_database_names(void);
extern int	taskmill_scheduler_lock_timeout;
extern int	taskmill_scheduler_statement_timeout;

extern void taskmill_register_scheduler_workers(void);
extern void taskmill_bgworker_start(const char *appname, const char *what);
extern void taskmill_bgworker_loop_top(void);
extern void taskmill_register_database_worker(const char *function, const char *type,
											  const char *dbname, int arg);

#endif							/* TASKMILL_BGWORKER_H */
