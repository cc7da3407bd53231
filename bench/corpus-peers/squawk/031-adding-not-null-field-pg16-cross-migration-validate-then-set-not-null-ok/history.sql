CREATE TABLE foo (id int PRIMARY KEY, bar bigint);
ALTER TABLE foo ADD CONSTRAINT foo_bar_not_null CHECK (bar IS NOT NULL) NOT VALID;
