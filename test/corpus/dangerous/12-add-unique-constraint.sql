-- squawk disallowed-unique-constraint: builds the index under ACCESS EXCLUSIVE.
SET lock_timeout = '5s';
SET statement_timeout = '15min';
ALTER TABLE orders ADD CONSTRAINT orders_reference_key UNIQUE (reference);
