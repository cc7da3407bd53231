// One example per kind of the lock table (src/migration/lock-table.ts), on the schema SETUP
// creates: test/migration-locks.test.ts runs them against pg_locks, test/trace-locks.test.ts
// traces them with `pgpreflight trace` and compares the static answer with what ran.
import type { LockRuleKind } from '../../src/migration/lock-table.js';

export const SETUP = `
  CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL);
  CREATE TABLE orders (id int PRIMARY KEY, customer_id int, total int, note text);
  INSERT INTO customers SELECT g, 'c' || g FROM generate_series(1, 50) g;
  INSERT INTO orders SELECT g, 1 + g % 50, g, 'n' FROM generate_series(1, 200) g;
  CREATE INDEX orders_total_idx ON orders (total);
  CREATE UNIQUE INDEX orders_total_uidx ON orders (total);
  ALTER TABLE orders ADD CONSTRAINT orders_total_check CHECK (total >= 0);
  ALTER TABLE orders ADD CONSTRAINT orders_total_pos CHECK (total > 0) NOT VALID;
  CREATE TABLE scratch (id int PRIMARY KEY, body text);
  CREATE TABLE events (id int, kind int) PARTITION BY LIST (kind);
  CREATE TABLE events_1 PARTITION OF events FOR VALUES IN (1);
  CREATE TABLE events_2 (id int, kind int);
  CREATE MATERIALIZED VIEW order_totals AS SELECT id, total FROM orders;
  CREATE UNIQUE INDEX order_totals_id ON order_totals (id);
  CREATE FUNCTION noop() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
  CREATE TRIGGER orders_noop BEFORE INSERT ON orders FOR EACH ROW EXECUTE FUNCTION noop();
  ALTER TABLE orders ADD COLUMN code varchar(20), ADD COLUMN seq int;
  CREATE INDEX orders_seq_idx ON orders (seq);
  ALTER TABLE scratch ADD COLUMN body_len int GENERATED ALWAYS AS (length(body)) STORED;
  CREATE TABLE loose (id int, body text);
  CREATE UNIQUE INDEX loose_id ON loose (id);
  CREATE INDEX events_id ON ONLY events (id);
  CREATE INDEX events_1_id ON events_1 (id);
  CREATE TABLE events_9 PARTITION OF events FOR VALUES IN (9);
  CREATE VIEW order_view AS SELECT id FROM orders;
  CREATE SEQUENCE order_seq;
  CREATE SCHEMA other;
  CREATE TABLE base (id int);
  CREATE TABLE kid (id int);
  ANALYZE;
`;

/** What the analyzer is told was applied before (the schema SETUP left), for the examples whose kind depends on it. */
export const HISTORY = `
  CREATE TABLE orders (id int PRIMARY KEY, customer_id int, total int, note text, code varchar(20), seq int);
  CREATE INDEX orders_seq_idx ON orders (seq);
  CREATE TABLE loose (id int, body text);
  CREATE UNIQUE INDEX loose_id ON loose (id);
`;

export interface Example {
  sql: string;
  /** Cannot run in a transaction: start it behind a ShareLock on this table and read what it requests. */
  blockOn?: string;
  /** The analyzer reads HISTORY first (the kind depends on the column's type or the index's columns). */
  history?: boolean;
  /** The lowest major that has the statement. */
  since?: number;
  /** A state the server must be brought into first, by the test (a DETACH ... CONCURRENTLY interrupted mid-way). */
  prepare?: 'interrupted-detach';
}

export const EXAMPLES: Record<LockRuleKind, Example> = {
  'add-column': { sql: 'ALTER TABLE orders ADD COLUMN extra int DEFAULT 0' },
  'add-column-rewrite': { sql: 'ALTER TABLE orders ADD COLUMN noise float8 DEFAULT random()' },
  'drop-column': { sql: 'ALTER TABLE orders DROP COLUMN note' },
  'alter-column-type': { sql: 'ALTER TABLE orders ALTER COLUMN customer_id TYPE bigint' },
  'set-not-null': { sql: 'ALTER TABLE orders ALTER COLUMN total SET NOT NULL' },
  'set-not-null-proven': {
    sql: 'ALTER TABLE orders ADD CONSTRAINT total_nn CHECK (total IS NOT NULL) NOT VALID; ALTER TABLE orders VALIDATE CONSTRAINT total_nn; ALTER TABLE orders ALTER COLUMN total SET NOT NULL',
  },
  'drop-not-null': { sql: 'ALTER TABLE customers ALTER COLUMN name DROP NOT NULL' },
  'set-default': { sql: 'ALTER TABLE orders ALTER COLUMN total SET DEFAULT 0' },
  'add-check': { sql: 'ALTER TABLE orders ADD CONSTRAINT total_small CHECK (total < 1000000)' },
  'add-check-not-valid': { sql: 'ALTER TABLE orders ADD CONSTRAINT total_small CHECK (total < 1000000) NOT VALID' },
  'add-foreign-key': { sql: 'ALTER TABLE orders ADD CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id)' },
  'add-foreign-key-not-valid': { sql: 'ALTER TABLE orders ADD CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id) NOT VALID' },
  'add-index-constraint': { sql: 'ALTER TABLE orders ADD CONSTRAINT orders_total_key UNIQUE (total)' },
  'add-constraint-using-index': { sql: 'ALTER TABLE orders ADD CONSTRAINT orders_total_key UNIQUE USING INDEX orders_total_uidx' },
  'validate-constraint': { sql: 'ALTER TABLE orders VALIDATE CONSTRAINT orders_total_pos' },
  'drop-constraint': { sql: 'ALTER TABLE orders DROP CONSTRAINT orders_total_check' },
  rename: { sql: 'ALTER TABLE orders RENAME COLUMN note TO remark' },
  'rename-index': { sql: 'ALTER INDEX orders_total_idx RENAME TO orders_total_idx2' },
  'set-statistics': { sql: 'ALTER TABLE orders ALTER COLUMN total SET STATISTICS 500' },
  'set-storage-parameters': { sql: 'ALTER TABLE orders SET (fillfactor = 80, autovacuum_vacuum_scale_factor = 0.01)' },
  'alter-table-metadata': { sql: 'ALTER TABLE orders ALTER COLUMN note SET STORAGE EXTERNAL' },
  'alter-table-rewrite': { sql: 'ALTER TABLE scratch SET UNLOGGED' },
  'enable-disable-trigger': { sql: 'ALTER TABLE orders DISABLE TRIGGER orders_noop' },
  'attach-partition': { sql: 'ALTER TABLE events ATTACH PARTITION events_2 FOR VALUES IN (2)' },
  'detach-partition': { sql: 'ALTER TABLE events DETACH PARTITION events_1' },
  'detach-partition-concurrently': { sql: 'ALTER TABLE events DETACH PARTITION events_1 CONCURRENTLY', blockOn: 'events' },
  'create-index': { sql: 'CREATE INDEX orders_customer_idx ON orders (customer_id)' },
  'create-index-concurrently': { sql: 'CREATE INDEX CONCURRENTLY orders_customer_idx ON orders (customer_id)', blockOn: 'orders' },
  'drop-index': { sql: 'DROP INDEX orders_total_idx' },
  'drop-index-concurrently': { sql: 'DROP INDEX CONCURRENTLY orders_total_idx', blockOn: 'orders' },
  reindex: { sql: 'REINDEX TABLE orders' },
  'reindex-concurrently': { sql: 'REINDEX TABLE CONCURRENTLY orders', blockOn: 'orders' },
  'drop-table': { sql: 'DROP TABLE scratch' },
  truncate: { sql: 'TRUNCATE scratch' },
  'vacuum-full': { sql: 'VACUUM FULL scratch', blockOn: 'scratch' },
  vacuum: { sql: 'VACUUM scratch', blockOn: 'scratch' },
  analyze: { sql: 'ANALYZE orders' },
  cluster: { sql: 'CLUSTER orders USING orders_pkey' },
  'create-trigger': { sql: 'CREATE TRIGGER orders_noop2 BEFORE UPDATE ON orders FOR EACH ROW EXECUTE FUNCTION noop()' },
  'drop-trigger': { sql: 'DROP TRIGGER orders_noop ON orders' },
  comment: { sql: "COMMENT ON COLUMN orders.note IS 'free text'" },
  'create-table': { sql: 'CREATE TABLE invoices (id int PRIMARY KEY, customer_id int REFERENCES customers (id))' },
  'create-partition': { sql: 'CREATE TABLE events_3 PARTITION OF events FOR VALUES IN (3)' },
  'lock-table': { sql: 'LOCK TABLE orders IN SHARE ROW EXCLUSIVE MODE' },
  'refresh-materialized-view': { sql: 'REFRESH MATERIALIZED VIEW order_totals' },
  'refresh-materialized-view-concurrently': { sql: 'REFRESH MATERIALIZED VIEW CONCURRENTLY order_totals' },
  'add-column-references': { sql: 'ALTER TABLE orders ADD COLUMN buyer_id int REFERENCES customers (id)' },
  'alter-column-type-in-place': { sql: 'ALTER TABLE orders ALTER COLUMN code TYPE varchar(40)', history: true },
  'alter-column-type-index-rebuild': { sql: 'ALTER TABLE orders ALTER COLUMN seq TYPE oid', history: true },
  'set-expression': { sql: 'ALTER TABLE scratch ALTER COLUMN body_len SET EXPRESSION AS (length(body) + 1)', since: 17 },
  'add-primary-key-using-index-nullable': { sql: 'ALTER TABLE loose ADD CONSTRAINT loose_pk PRIMARY KEY USING INDEX loose_id', history: true },
  'create-index-on-only': { sql: 'CREATE INDEX events_kind_only ON ONLY events (kind)' },
  'attach-partition-index': { sql: 'ALTER INDEX events_id ATTACH PARTITION events_1_id' },
  'detach-partition-finalize': { sql: 'ALTER TABLE events DETACH PARTITION events_9 FINALIZE', prepare: 'interrupted-detach' },
  inherit: { sql: 'ALTER TABLE kid INHERIT base' },
  'create-table-inherits': { sql: 'CREATE TABLE kid2 () INHERITS (base)' },
  'create-table-as': { sql: 'CREATE TABLE orders_copy AS SELECT * FROM orders' },
  'create-view': { sql: 'CREATE OR REPLACE VIEW order_view AS SELECT id FROM orders' },
  'drop-view': { sql: 'DROP VIEW order_view' },
  'create-policy': { sql: 'CREATE POLICY orders_all ON orders USING (true)' },
  'create-statistics': { sql: 'CREATE STATISTICS orders_stats ON customer_id, total FROM orders' },
  'alter-sequence': { sql: 'ALTER SEQUENCE order_seq RESTART 100' },
  'set-schema': { sql: 'ALTER TABLE scratch SET SCHEMA other' },
  'reindex-index': { sql: 'REINDEX INDEX orders_total_idx' },
  'copy-from': { sql: "COPY scratch (id, body) FROM '/dev/null'" },
  'write-rows': { sql: 'UPDATE orders SET total = total WHERE id = 1' },
  'read-rows': { sql: 'SELECT count(*) FROM orders' },
};
