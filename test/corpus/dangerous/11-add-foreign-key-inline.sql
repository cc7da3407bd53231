-- A REFERENCES clause on a new column of an existing table validates too.
SET lock_timeout = '5s';
SET statement_timeout = '15min';
ALTER TABLE orders ADD COLUMN coupon_id bigint REFERENCES coupons (id);
