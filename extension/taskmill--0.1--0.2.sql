-- taskmill 0.1 -> 0.2. Applied by ALTER EXTENSION taskmill UPDATE. Every change to SQL
-- objects since 0.1 is here, and also in extension/sql/*.sql (the full script of 0.2); the
-- upgrade suite checks that both give the same schema.
\echo Use "ALTER EXTENSION taskmill UPDATE TO '0.2'" to load this file. \quit
