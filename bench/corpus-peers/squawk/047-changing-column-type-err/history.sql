CREATE TABLE core_recipe (id int PRIMARY KEY, edits varchar(255));
