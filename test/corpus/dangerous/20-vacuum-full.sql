-- PostgreSQL docs, VACUUM FULL: rewrites the table under ACCESS EXCLUSIVE.
SET lock_timeout = '5s';
SET statement_timeout = '15min';
VACUUM FULL orders;
