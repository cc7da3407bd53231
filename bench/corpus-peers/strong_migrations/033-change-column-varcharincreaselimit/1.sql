ALTER TABLE "users" ALTER COLUMN "country" TYPE character varying(21);
