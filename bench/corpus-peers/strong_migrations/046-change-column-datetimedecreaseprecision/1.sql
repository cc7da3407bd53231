ALTER TABLE "users" ADD "joined_at" timestamp;
ALTER TABLE "users" ALTER COLUMN "joined_at" TYPE timestamp(3);
