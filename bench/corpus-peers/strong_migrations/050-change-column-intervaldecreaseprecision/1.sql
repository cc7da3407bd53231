ALTER TABLE "users" ADD "duration" interval;
ALTER TABLE "users" ALTER COLUMN "duration" TYPE interval(3);
