ALTER TABLE "users" RENAME COLUMN "some_column" TO "new_name";
