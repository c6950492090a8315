-- The queue's SQL surface: signatures, tables, indexes and storage settings.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS taskmill;
RESET client_min_messages;

\x on
SELECT p.proname, pg_catalog.pg_get_function_arguments(p.oid) AS arguments,
       pg_catalog.pg_get_function_result(p.oid) AS result,
       p.prolang = (SELECT oid FROM pg_language WHERE lanname = 'c') AS is_c,
       p.proisstrict AS strict, p.provolatile AS volatility, p.proparallel AS parallel
FROM pg_catalog.pg_proc p
WHERE p.pronamespace = 'taskmill'::regnamespace
  AND p.proname IN ('enqueue', 'enqueue_batch', 'dequeue', 'dequeue_sql', 'ack', 'ack_many',
                    'nack', 'extend_visibility', 'requeue_from_dlq', 'list_queues',
                    'queue_stats', 'purge', 'purge_dlq', 'list_dlq', 'list_results',
                    'cleanup_results', 'hot_statements', 'wait_begin', 'wait_end')
ORDER BY p.proname;
\x off

SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull
FROM pg_catalog.pg_attribute a
WHERE a.attrelid = 'taskmill.tasks'::regclass AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum;

SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull
FROM pg_catalog.pg_attribute a
WHERE a.attrelid = 'taskmill.task_results'::regclass AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum;

SELECT c.conname, pg_catalog.pg_get_constraintdef(c.oid)
FROM pg_catalog.pg_constraint c
WHERE c.conrelid = 'taskmill.tasks'::regclass
  AND c.contype <> 'n'  -- NOT NULLs: attnotnull above (18 also lists them here)
ORDER BY c.conname;

SELECT indexrelid::regclass AS index, pg_catalog.pg_get_indexdef(indexrelid)
FROM pg_catalog.pg_index
WHERE indrelid IN ('taskmill.tasks'::regclass, 'taskmill.task_results'::regclass)
ORDER BY indexrelid::regclass::text;  -- by name (1::text was a constant: catalog order)

SELECT relname, reloptions FROM pg_catalog.pg_class
WHERE oid IN ('taskmill.tasks'::regclass, 'taskmill.task_results'::regclass)
ORDER BY relname;

-- pg_dump keeps the queue's contents.
SELECT c.relname
FROM pg_catalog.pg_extension e, pg_catalog.unnest(e.extconfig) AS cfg(oid)
JOIN pg_catalog.pg_class c ON c.oid = cfg.oid
WHERE e.extname = 'taskmill' AND c.relnamespace = 'taskmill'::regnamespace
  AND c.relname IN ('tasks', 'task_results', 'tasks_id_seq')
ORDER BY 1;
