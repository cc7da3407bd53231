-- squawk adding-required-field: NOT NULL without a default fails on a table with rows.
SET lock_timeout = '5s';
SET statement_timeout = '15min';
ALTER TABLE orders ADD COLUMN channel text NOT NULL;
