ALTER TABLE "users" ADD CONSTRAINT "users_some_column_null" CHECK (some_column IS NOT NULL) NOT VALID;
