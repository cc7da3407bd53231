ALTER TABLE "users" DROP COLUMN "some_column";
