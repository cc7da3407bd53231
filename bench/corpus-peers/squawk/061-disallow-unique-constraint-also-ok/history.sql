CREATE TABLE distributors (dist_id int PRIMARY KEY, name text);
