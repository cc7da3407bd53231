ALTER TABLE "users" ADD "opens_at" time(0);
ALTER TABLE "users" ALTER COLUMN "opens_at" TYPE time(3);
ALTER TABLE "users" ALTER COLUMN "opens_at" TYPE time(6);
