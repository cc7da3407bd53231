-- A DO block that builds its SQL at run time can take any lock: what it runs is not in the
-- text, so the analyzer fails closed (the trace shows what it does).
SET lock_timeout = '5s';
SET statement_timeout = '15min';
DO $$ BEGIN EXECUTE format('ALTER TABLE %I ALTER COLUMN total TYPE bigint', 'orders'); END $$;
