SET timezone = 'UTC';
ALTER TABLE "users" ALTER COLUMN "deleted_at" TYPE timestamp with time zone;
ALTER TABLE "users" ALTER COLUMN "deleted_at" TYPE timestamp without time zone;
