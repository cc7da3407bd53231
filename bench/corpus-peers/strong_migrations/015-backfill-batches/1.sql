UPDATE "users" SET "some_column" = 'default_value' WHERE "users"."id" >= 1 AND "users"."id" < 10001 AND "users"."some_column" IS NULL;
