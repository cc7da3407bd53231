-- squawk adding-serial-primary-key-field: serial fills every row (rewrite) and builds an index under ACCESS EXCLUSIVE.
SET lock_timeout = '5s';
SET statement_timeout = '15min';
ALTER TABLE orders ADD COLUMN seq bigserial PRIMARY KEY;
