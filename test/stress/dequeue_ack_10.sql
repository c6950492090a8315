-- One client's loop: dequeue up to ten tasks (its own transaction), then ack them (its own transaction).
SELECT count(*) AS n, coalesce(string_agg(id::text, ','), '') AS ids, coalesce(string_agg(lease::text, ','), '') AS leases FROM taskmill.dequeue('stress', 10) \gset
\if :n > 0
SELECT taskmill.ack_many(string_to_array(:ids, ',')::bigint[], string_to_array(:leases, ',')::uuid[]);
\endif
