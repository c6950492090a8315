# taskmill — PGXS build of the extension, plus top-level convenience targets.
#
#   make                 build extension/taskmill.so and the install script
#   make install         install into the PostgreSQL found by PG_CONFIG
#   make installcheck    pg_regress (test/regress/sql -> test/regress/expected) and the isolation
#                        specs (test/isolation/specs -> test/isolation/expected) against a
#                        running server (PGHOST/PGPORT/PGUSER); results and regression.diffs
#                        are written next to them (test/regress, test/isolation)
#   make test            everything, on throwaway clusters: scripts/test.sh
#   make demo            the main job on a throwaway cluster: scripts/demo.sh

PG_CONFIG ?= pg_config

MODULE_big = taskmill
OBJS = $(patsubst %.c,%.o,$(sort $(wildcard extension/*.c)))
# Keep the control file and scripts in extension/: PGXS would look for it at the top level
# if EXTENSION were set, so install it as DATA into share/extension instead.
MODULEDIR = extension
# The version being built. Released versions and their commits are listed in RELEASES; each
# later change to SQL objects ships as a committed update script extension/taskmill--A--B.sql.
# The full script of the current version is assembled from extension/sql/*.sql (never
# committed); full scripts of released versions are rebuilt from their commits by the
# upgrade suite (test/suites/upgrade.sh), not kept here.
EXTVERSION = 0.3
DATA = extension/taskmill.control $(wildcard extension/taskmill--*--*.sql)
DATA_built = extension/taskmill--$(EXTVERSION).sql

# The tests live under test/ (test/README.md maps every layer); the two PGXS runs read theirs
# from test/regress and test/isolation.
REGRESS = $(sort $(basename $(notdir $(wildcard test/regress/sql/*.sql))))
# REGRESS_OUTPUTDIR: where results/ and regression.diffs go (the upgrade suite passes its own:
# pg_regress takes the last --outputdir, and PGXS puts EXTRA_REGRESS_OPTS before REGRESS_OPTS).
REGRESS_OUTPUTDIR = test/regress
REGRESS_OPTS = --inputdir=test/regress --outputdir=$(REGRESS_OUTPUTDIR) --dbname=taskmill_regress
ISOLATION = $(sort $(basename $(notdir $(wildcard test/isolation/specs/*.spec))))
ISOLATION_OPTS = --inputdir=test/isolation --outputdir=test/isolation --dbname=taskmill_isolation
EXTRA_CLEAN = test/regress/results test/regress/regression.diffs test/regress/regression.out \
	test/isolation/results test/isolation/regression.diffs test/isolation/regression.out

PG_CFLAGS = -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter -Wno-sign-compare \
	-Wno-missing-field-initializers -Wno-cast-function-type

# No LLVM bitcode: JIT inlining of queue functions is not worth the build time.
override with_llvm := no

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# The install script is assembled from one file per concern (schema, queue, admin,
# schedules ...), in name order, so each area of the extension keeps its own SQL.
extension/taskmill--$(EXTVERSION).sql: $(sort $(wildcard extension/sql/*.sql))
	cat $^ > $@


.PHONY: test demo
test:
	scripts/test.sh
demo:
	scripts/demo.sh
