-- Safe for 27: create the table alone, then ATTACH (SHARE UPDATE EXCLUSIVE on the parent); the new table is empty.
SET lock_timeout = '5s';
SET statement_timeout = '15min';
CREATE TABLE IF NOT EXISTS measurements_2027 (LIKE measurements INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
ALTER TABLE measurements ATTACH PARTITION measurements_2027 FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');
