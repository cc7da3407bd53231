ALTER TABLE "users" ADD "ip" cidr;
ALTER TABLE "users" ALTER COLUMN "ip" TYPE inet;
