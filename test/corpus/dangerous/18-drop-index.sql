-- DROP INDEX takes ACCESS EXCLUSIVE on the table; DROP INDEX CONCURRENTLY does not.
SET lock_timeout = '5s';
SET statement_timeout = '15min';
DROP INDEX orders_legacy_idx;
