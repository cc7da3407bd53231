-- Safe for 20: plain VACUUM and ANALYZE take SHARE UPDATE EXCLUSIVE.
SET lock_timeout = '5s';
SET statement_timeout = '15min';
VACUUM (ANALYZE) orders;
