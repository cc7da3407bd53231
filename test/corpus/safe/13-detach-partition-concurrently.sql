-- Safe for 26 (PG 14+), outside a transaction block.
SET lock_timeout = '5s';
SET statement_timeout = '15min';
ALTER TABLE measurements DETACH PARTITION measurements_2020 CONCURRENTLY;
