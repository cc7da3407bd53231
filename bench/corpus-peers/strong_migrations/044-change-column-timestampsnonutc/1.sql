SET timezone = 'America/Los_Angeles';
ALTER TABLE "users" ALTER COLUMN "deleted_at" TYPE timestamp with time zone;
