-- Safe for 09: NOT VALID skips the scan; VALIDATE scans under SHARE UPDATE EXCLUSIVE (reads and writes continue).
SET lock_timeout = '5s';
SET statement_timeout = '15min';
ALTER TABLE orders ADD CONSTRAINT orders_total_positive CHECK (total > 0) NOT VALID;
ALTER TABLE orders VALIDATE CONSTRAINT orders_total_positive;
