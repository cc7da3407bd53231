ALTER TABLE "users" ALTER COLUMN "some_column" TYPE integer USING "some_column"::integer;
