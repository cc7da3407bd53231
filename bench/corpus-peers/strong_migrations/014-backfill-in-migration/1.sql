ALTER TABLE "users" ADD "some_column2" text;
UPDATE "users" SET "some_column2" = 'default_value';
