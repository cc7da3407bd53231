ALTER TABLE "users" ADD "joined_at" timestamp(0);
ALTER TABLE "users" ALTER COLUMN "joined_at" TYPE timestamp(3);
ALTER TABLE "users" ALTER COLUMN "joined_at" TYPE timestamp(6);
ALTER TABLE "users" ALTER COLUMN "joined_at" TYPE timestamp;
