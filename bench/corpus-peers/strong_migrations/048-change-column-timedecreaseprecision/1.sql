ALTER TABLE "users" ADD "opens_at" time;
ALTER TABLE "users" ALTER COLUMN "opens_at" TYPE time(3);
