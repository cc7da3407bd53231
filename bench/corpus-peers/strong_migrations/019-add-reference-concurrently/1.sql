ALTER TABLE "users" ADD "city_id" bigint;
CREATE INDEX CONCURRENTLY "index_users_on_city_id" ON "users" ("city_id");
