-- taskmill install script, assembled by the Makefile from extension/sql/*.sql in name order.
\echo Use "CREATE EXTENSION taskmill" to load this file. \quit
