-- A new table: indexes and constraints on it are instant; the FK takes a brief SHARE ROW EXCLUSIVE on customers.
SET lock_timeout = '5s';
SET statement_timeout = '15min';
CREATE TABLE IF NOT EXISTS invoices (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, customer_id bigint REFERENCES customers (id), total bigint NOT NULL);
CREATE INDEX invoices_customer_id_idx ON invoices (customer_id);
ALTER TABLE invoices ADD COLUMN issued_at timestamptz DEFAULT clock_timestamp();
