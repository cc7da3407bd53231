ALTER TABLE "users" ADD "order2_id" bigint;
CREATE INDEX "index_users_on_order2_id" ON "users" ("order2_id");
ALTER TABLE "users" ADD CONSTRAINT "fk_rails_0d4a6ee9d4" FOREIGN KEY ("order2_id") REFERENCES "orders" ("id");
