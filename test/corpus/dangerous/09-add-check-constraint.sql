-- PostgreSQL docs, ADD table_constraint: a CHECK is validated by a full scan under the lock.
SET lock_timeout = '5s';
SET statement_timeout = '15min';
ALTER TABLE orders ADD CONSTRAINT orders_total_positive CHECK (total > 0);
