-- CREATE TABLE ... PARTITION OF takes ACCESS EXCLUSIVE on the parent; ATTACH PARTITION needs less.
SET lock_timeout = '5s';
SET statement_timeout = '15min';
CREATE TABLE measurements_2027 PARTITION OF measurements FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');
