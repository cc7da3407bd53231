ALTER TABLE "cities_users" ADD "id" bigserial primary key;
