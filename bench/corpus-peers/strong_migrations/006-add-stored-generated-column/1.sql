ALTER TABLE "users" ADD "some_column2" character varying GENERATED ALWAYS AS (lower(name)) STORED;
