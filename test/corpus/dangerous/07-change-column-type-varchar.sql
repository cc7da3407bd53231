-- strong_migrations: changing a column's type (here varchar(50) -> varchar(20), a shrink) rewrites or rechecks every row.
SET lock_timeout = '5s';
SET statement_timeout = '15min';
ALTER TABLE customers ALTER COLUMN email TYPE varchar(20);
