ALTER TABLE "users" ALTER COLUMN "credit_score" TYPE numeric(11,5);
