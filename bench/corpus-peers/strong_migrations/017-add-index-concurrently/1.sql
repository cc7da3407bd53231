CREATE INDEX CONCURRENTLY "index_users_on_some_column" ON "users" ("some_column");
