-- Safe for 12/16: build the unique index concurrently, then attach it as the constraint.
SET lock_timeout = '5s';
SET statement_timeout = '15min';
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS orders_reference_idx ON orders (reference);
ALTER TABLE orders ADD CONSTRAINT orders_reference_key UNIQUE USING INDEX orders_reference_idx;
