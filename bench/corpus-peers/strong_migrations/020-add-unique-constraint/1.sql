ALTER TABLE "users" ADD CONSTRAINT "uniq_users_some_column" UNIQUE ("some_column");
