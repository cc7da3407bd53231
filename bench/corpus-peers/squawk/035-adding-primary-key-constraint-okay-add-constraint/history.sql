CREATE TABLE items (id int NOT NULL);
CREATE UNIQUE INDEX items_pk ON items (id);
