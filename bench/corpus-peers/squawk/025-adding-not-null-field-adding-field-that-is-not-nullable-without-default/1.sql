ALTER TABLE "core_recipe" ADD COLUMN "foo" integer NOT NULL;
