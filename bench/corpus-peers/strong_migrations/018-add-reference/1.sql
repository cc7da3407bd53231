ALTER TABLE "users" ADD "city_id" bigint;
CREATE INDEX "index_users_on_city_id" ON "users" ("city_id");
