-- Safe for 24: needs a unique index on the view; reads continue.
SET lock_timeout = '5s';
SET statement_timeout = '15min';
REFRESH MATERIALIZED VIEW CONCURRENTLY order_totals;
