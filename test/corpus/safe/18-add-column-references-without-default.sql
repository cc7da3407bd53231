-- A REFERENCES clause on a new column with no default: the column is all NULL, so
-- PostgreSQL skips the validation scan (observed: seq_scan unchanged on 3M rows, and
-- test/migration-locks.test.ts 'add-column-references'). A brief ACCESS EXCLUSIVE on
-- orders and SHARE ROW EXCLUSIVE on coupons, no scan.
SET lock_timeout = '5s';
SET statement_timeout = '15min';
ALTER TABLE orders ADD COLUMN coupon_id bigint REFERENCES coupons (id);
