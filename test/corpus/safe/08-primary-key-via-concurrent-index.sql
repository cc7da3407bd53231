-- Safe for 13: prove NOT NULL without a scan, build the index concurrently, attach it as the primary key.
SET lock_timeout = '5s';
SET statement_timeout = '15min';
ALTER TABLE audit_log ADD CONSTRAINT audit_log_id_not_null CHECK (id IS NOT NULL) NOT VALID;
ALTER TABLE audit_log VALIDATE CONSTRAINT audit_log_id_not_null;
ALTER TABLE audit_log ALTER COLUMN id SET NOT NULL;
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS audit_log_id_idx ON audit_log (id);
ALTER TABLE audit_log ADD CONSTRAINT audit_log_pkey PRIMARY KEY USING INDEX audit_log_id_idx;
