ALTER TABLE "core_recipe" ADD COLUMN "foo" text DEFAULT 'some-str';
