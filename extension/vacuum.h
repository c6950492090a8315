/*
 * vacuum.h
 *		The vacuum background worker (vacuum.c): its GUCs and its registration.
 */
#ifndef TASKMILL_VACUUM_H
#define TASKMILL_VACUUM_H

extern void taskmill_vacuum_define_gucs(void);
extern void taskmill_register_vacuum_workers(void);

#endif							/* TASKMILL_VACUUM_H */
