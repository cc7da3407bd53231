-- A DO block whose statements are in its text is judged from them (PL/pgSQL's own parser):
-- an idempotent ADD COLUMN is a brief ACCESS EXCLUSIVE, with a lock_timeout.
SET lock_timeout = '5s';
SET statement_timeout = '15min';
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_name = 'orders' AND column_name = 'flag') THEN
    ALTER TABLE orders ADD COLUMN flag boolean;
  END IF;
END $$;
