create table authors(
    name text
);
