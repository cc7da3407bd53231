ALTER TABLE "users" ADD CONSTRAINT "users_city_excl" EXCLUDE USING btree (city WITH =);
