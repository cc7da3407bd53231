CREATE TABLE core_recipe (id int PRIMARY KEY);
CREATE FUNCTION myjsonb() RETURNS jsonb IMMUTABLE LANGUAGE sql AS $$ SELECT '{}'::jsonb $$;
