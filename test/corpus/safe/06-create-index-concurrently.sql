-- Safe for 15: CREATE INDEX CONCURRENTLY, outside a transaction block.
SET lock_timeout = '5s';
SET statement_timeout = '15min';
CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_created_at_idx ON orders (created_at);
