-- Safe for 08: CHECK ... NOT VALID, VALIDATE (SHARE UPDATE EXCLUSIVE), then SET NOT NULL skips its scan (PG 12+).
SET lock_timeout = '5s';
SET statement_timeout = '15min';
ALTER TABLE orders ADD CONSTRAINT orders_customer_id_not_null CHECK (customer_id IS NOT NULL) NOT VALID;
ALTER TABLE orders VALIDATE CONSTRAINT orders_customer_id_not_null;
ALTER TABLE orders ALTER COLUMN customer_id SET NOT NULL;
ALTER TABLE orders DROP CONSTRAINT orders_customer_id_not_null;
