ALTER TABLE "users" VALIDATE CONSTRAINT "users_some_column_null";
ALTER TABLE "users" ALTER COLUMN "some_column" SET NOT NULL;
ALTER TABLE "users" DROP CONSTRAINT "users_some_column_null";
