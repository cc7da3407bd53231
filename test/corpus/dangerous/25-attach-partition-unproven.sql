-- PostgreSQL docs, ATTACH PARTITION: scans the new partition under ACCESS EXCLUSIVE unless a CHECK proves the bound.
SET lock_timeout = '5s';
SET statement_timeout = '15min';
ALTER TABLE measurements ATTACH PARTITION measurements_2026 FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
