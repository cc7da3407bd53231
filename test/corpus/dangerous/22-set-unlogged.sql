-- SET LOGGED / UNLOGGED copy the table under ACCESS EXCLUSIVE.
SET lock_timeout = '5s';
SET statement_timeout = '15min';
ALTER TABLE events_archive SET UNLOGGED;
