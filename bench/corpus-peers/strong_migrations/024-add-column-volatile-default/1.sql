ALTER TABLE "users" ADD "some_uuid" uuid DEFAULT gen_random_uuid();
