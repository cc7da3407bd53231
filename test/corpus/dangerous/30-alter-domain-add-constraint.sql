-- ALTER DOMAIN ... ADD CONSTRAINT checks every column of that domain in every table.
SET lock_timeout = '5s';
SET statement_timeout = '15min';
ALTER DOMAIN positive_amount ADD CONSTRAINT positive_amount_check CHECK (VALUE > 0);
