-- Safe for 19 (PG 12+).
SET lock_timeout = '5s';
SET statement_timeout = '15min';
REINDEX TABLE CONCURRENTLY orders;
