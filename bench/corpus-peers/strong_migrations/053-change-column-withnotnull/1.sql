ALTER TABLE "users" ALTER COLUMN "country" TYPE character varying(20);
ALTER TABLE "users" ALTER COLUMN "country" SET NOT NULL;
