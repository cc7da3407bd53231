-- Metadata changes under SHARE UPDATE EXCLUSIVE: statistics, storage parameters, comments.
SET lock_timeout = '5s';
SET statement_timeout = '15min';
ALTER TABLE orders ALTER COLUMN total SET STATISTICS 500;
ALTER TABLE orders SET (autovacuum_vacuum_scale_factor = 0.01);
COMMENT ON COLUMN orders.total IS 'in cents';
