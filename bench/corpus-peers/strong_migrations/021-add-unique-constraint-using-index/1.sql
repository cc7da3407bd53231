CREATE UNIQUE INDEX CONCURRENTLY "index_users_on_some_column" ON "users" ("some_column");
ALTER TABLE "users" ADD CONSTRAINT "index_users_on_some_column" UNIQUE USING INDEX "index_users_on_some_column";
