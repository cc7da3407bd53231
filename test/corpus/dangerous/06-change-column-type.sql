-- PostgreSQL docs, SET DATA TYPE: rewrites the table unless binary coercible (int -> bigint is not).
SET lock_timeout = '5s';
SET statement_timeout = '15min';
ALTER TABLE orders ALTER COLUMN total TYPE bigint;
