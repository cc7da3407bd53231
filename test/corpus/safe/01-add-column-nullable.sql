-- Safe for 01/02/28: a nullable column, or a constant default (PG 11+: stored in the catalog, no rewrite).
SET lock_timeout = '5s';
SET statement_timeout = '15min';
ALTER TABLE orders ADD COLUMN note text;
ALTER TABLE orders ADD COLUMN status text DEFAULT 'new' NOT NULL;
