-- PostgreSQL docs: adding a stored generated column rewrites the table.
SET lock_timeout = '5s';
SET statement_timeout = '15min';
ALTER TABLE orders ADD COLUMN total_cents bigint GENERATED ALWAYS AS (total * 100) STORED;
