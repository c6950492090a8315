-- One hot-group loop: dequeue one task (its own transaction), then ack it (its own transaction).
SELECT coalesce(min(id), 0) AS id, min(lease::text) AS lease FROM taskmill.dequeue('hot', 1) \gset
\if :id > 0
SELECT taskmill.ack(:id, :lease::uuid);
\endif
