CREATE TABLE core_recipe (id int PRIMARY KEY, foo varchar(100));
