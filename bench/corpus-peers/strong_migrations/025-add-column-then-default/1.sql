ALTER TABLE "users" ADD "some_uuid" uuid;
ALTER TABLE "users" ALTER COLUMN "some_uuid" SET DEFAULT gen_random_uuid();
