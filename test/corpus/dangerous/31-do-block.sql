-- A DO block can take any lock: its statements are not visible to a static analyzer.
SET lock_timeout = '5s';
SET statement_timeout = '15min';
DO $$ BEGIN EXECUTE 'ALTER TABLE orders ADD COLUMN flag boolean'; END $$;
