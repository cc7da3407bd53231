-- PostgreSQL docs: ADD FOREIGN KEY takes SHARE ROW EXCLUSIVE on both tables and scans the referencing one.
SET lock_timeout = '5s';
SET statement_timeout = '15min';
ALTER TABLE orders ADD CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id);
