-- A REFERENCES clause on a new column with a default validates every row under the
-- ALTER's lock (the column is not all NULL).
SET lock_timeout = '5s';
SET statement_timeout = '15min';
ALTER TABLE orders ADD COLUMN coupon_id bigint DEFAULT 1 REFERENCES coupons (id);
