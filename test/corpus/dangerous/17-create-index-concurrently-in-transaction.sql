-- PostgreSQL docs: CREATE INDEX CONCURRENTLY cannot be executed inside a transaction block.
SET lock_timeout = '5s';
SET statement_timeout = '15min';
BEGIN;
CREATE INDEX CONCURRENTLY orders_status_idx ON orders (status);
COMMIT;
