-- PostgreSQL docs, CREATE INDEX: a normal build locks out writes (SHARE) for the whole build.
SET lock_timeout = '5s';
SET statement_timeout = '15min';
CREATE INDEX orders_created_at_idx ON orders (created_at);
