/*
 * taskmill.c
 *		Module entry point: the magic block, _PG_init and the extension's GUCs.
 */
#include "postgres.h"

#include "fmgr.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
}
