ALTER TABLE "users" ADD CONSTRAINT price_check CHECK (credit_score > 0);
