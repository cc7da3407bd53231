ALTER TABLE "users" ALTER COLUMN "description" TYPE character varying(20);
