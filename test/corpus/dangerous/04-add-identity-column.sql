-- An identity column is filled for every existing row: a rewrite.
SET lock_timeout = '5s';
SET statement_timeout = '15min';
ALTER TABLE orders ADD COLUMN n bigint GENERATED ALWAYS AS IDENTITY;
