-- PostgreSQL docs, ALTER TABLE notes: a volatile DEFAULT rewrites the table and its indexes.
SET lock_timeout = '5s';
SET statement_timeout = '15min';
ALTER TABLE orders ADD COLUMN created_at timestamptz DEFAULT clock_timestamp();
