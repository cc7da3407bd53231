-- Same for a unique index.
SET lock_timeout = '5s';
SET statement_timeout = '15min';
CREATE UNIQUE INDEX orders_reference_idx ON orders (reference);
