ALTER TABLE "users" ADD "active" boolean DEFAULT TRUE NOT NULL;
