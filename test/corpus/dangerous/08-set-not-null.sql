-- PostgreSQL docs, SET NOT NULL: scans the whole table under ACCESS EXCLUSIVE.
SET lock_timeout = '5s';
SET statement_timeout = '15min';
ALTER TABLE orders ALTER COLUMN customer_id SET NOT NULL;
