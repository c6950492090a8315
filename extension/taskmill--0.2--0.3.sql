-- taskmill 0.2 -> 0.3. Applied by ALTER EXTENSION taskmill UPDATE. Every change to SQL
-- objects since 0.2 is here, and also in extension/sql/*.sql (the full script of 0.3); the
-- upgrade suite checks that both give the same schema.
\echo Use "ALTER EXTENSION taskmill UPDATE TO '0.3'" to load this file. \quit
