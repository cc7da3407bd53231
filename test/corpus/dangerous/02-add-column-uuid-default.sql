-- strong_migrations: adding a column with a volatile default (gen_random_uuid) rewrites the table.
SET lock_timeout = '5s';
SET statement_timeout = '15min';
ALTER TABLE orders ADD COLUMN public_id uuid DEFAULT gen_random_uuid();
