-- PostgreSQL docs, REINDEX: blocks writes (SHARE on the table) while it rebuilds.
SET lock_timeout = '5s';
SET statement_timeout = '15min';
REINDEX TABLE orders;
