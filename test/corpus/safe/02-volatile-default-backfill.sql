-- Safe for 01/02: add the column without the volatile default, set it for new rows, backfill in batches.
SET lock_timeout = '5s';
SET statement_timeout = '15min';
ALTER TABLE orders ADD COLUMN public_id uuid;
ALTER TABLE orders ALTER COLUMN public_id SET DEFAULT gen_random_uuid();
UPDATE orders SET public_id = gen_random_uuid() WHERE id BETWEEN 1 AND 10000 AND public_id IS NULL;
