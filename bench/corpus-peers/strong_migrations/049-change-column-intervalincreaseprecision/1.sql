ALTER TABLE "users" ADD "duration" interval(0);
ALTER TABLE "users" ALTER COLUMN "duration" TYPE interval(3);
ALTER TABLE "users" ALTER COLUMN "duration" TYPE interval(6);
