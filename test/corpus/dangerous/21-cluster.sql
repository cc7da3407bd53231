-- PostgreSQL docs, CLUSTER: rewrites the table under ACCESS EXCLUSIVE.
SET lock_timeout = '5s';
SET statement_timeout = '15min';
CLUSTER orders USING orders_pkey;
