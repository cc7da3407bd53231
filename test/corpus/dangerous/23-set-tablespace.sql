-- SET TABLESPACE copies the table under ACCESS EXCLUSIVE.
SET lock_timeout = '5s';
SET statement_timeout = '15min';
ALTER TABLE orders SET TABLESPACE fast_ssd;
