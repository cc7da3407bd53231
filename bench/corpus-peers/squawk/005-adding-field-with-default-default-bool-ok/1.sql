ALTER TABLE "core_recipe" ADD COLUMN "foo" boolean DEFAULT true;
