-- REFRESH MATERIALIZED VIEW without CONCURRENTLY blocks reads of the view while it recomputes.
SET lock_timeout = '5s';
SET statement_timeout = '15min';
REFRESH MATERIALIZED VIEW order_totals;
