ALTER TABLE "users" ADD "ip" inet;
ALTER TABLE "users" ALTER COLUMN "ip" TYPE cidr;
