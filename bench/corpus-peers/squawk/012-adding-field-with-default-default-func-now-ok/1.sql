ALTER TABLE "core_recipe" ADD COLUMN "foo" timestamptz DEFAULT now();
